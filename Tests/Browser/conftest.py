"""Fixtures for the playground's browser test: a real `polycom serve` with the demo model on
a free loopback port, and headless Chromium (Debian's chromium + chromium-driver) driven by
selenium. Screenshots go to Tests/Browser/output/ (or $PLAYGROUND_OUTPUT)."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = pathlib.Path(os.environ.get("PLAYGROUND_OUTPUT", ROOT / "Tests/Browser/output"))
MODEL = ROOT / "Models/polynorm-demo"
API_KEY = "playground-test-key"
# selenium must not look for drivers or browsers on the internet: the system ones are used.
os.environ.setdefault("SE_OFFLINE", "true")


def polycom_binary() -> pathlib.Path:
    binary = pathlib.Path(os.environ.get("POLYCOM_BIN", ROOT / ".build/debug/polycom"))
    if not binary.exists():
        subprocess.run(["swift", "build", "--product", "polycom"], cwd=ROOT, check=True)
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `polycom serve` process; `api` calls it directly, beside the browser."""

    def __init__(self, name: str, *flags: str, model: pathlib.Path = MODEL):
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        self.log = open(OUTPUT / f"{name}.log", "w")
        self.process = subprocess.Popen(
            [str(polycom_binary()), "serve", "--model", str(model), "--port", str(self.port), *flags],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"polycom serve exited; see {self.log.name}"
            try:
                if self.get("/health").status == 200:
                    return
            except (urllib.error.URLError, ConnectionError):
                pass
            time.sleep(0.2)
        raise TimeoutError("polycom serve did not become healthy")

    def get(self, path, body=None, key=API_KEY):
        request = urllib.request.Request(self.origin + path, data=None if body is None else json.dumps(body).encode())
        if key:
            request.add_header("Authorization", "Bearer " + key)
        if body is not None:
            request.add_header("Content-Type", "application/json")
        return urllib.request.urlopen(request, timeout=60)

    def api(self, path, body=None):
        with self.get(path, body) as reply:
            return json.loads(reply.read())

    def metrics(self) -> dict:
        """Prometheus samples by name with labels, e.g. {'polycom_sequences_running': 0.0}."""
        with self.get("/metrics", key=None) as reply:
            samples = {}
            for line in reply.read().decode().splitlines():
                if line and not line.startswith("#"):
                    name, value = line.rsplit(" ", 1)
                    samples[name] = float(value)
            return samples

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="session")
def server():
    s = Server("server", "--api-key", API_KEY)
    yield s
    s.stop()


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--lang=en-US", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]:
        options.add_argument(arg)
    # The DevTools network log: every request the page makes, even one that fails.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    # Content-Security-Policy violations (a request the page tried and the browser refused).
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.__violations = [];
        document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.blockedURI + ' ' + e.violatedDirective));
    """})
    return driver


@pytest.fixture(scope="session")
def browser():
    driver = chrome()
    yield driver
    driver.quit()


_requests = []


def sent_requests(driver) -> list:
    """Every request (DevTools' request objects: url, method, postData) since the last
    `requested_urls`; reading them here does not hide them from it."""
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            _requests.append(message["params"]["request"])
    return list(_requests)


def requested_urls(driver) -> list:
    """The URLs of every request since the last call, from the DevTools network log."""
    urls = [r["url"] for r in sent_requests(driver)]
    _requests.clear()
    return urls
