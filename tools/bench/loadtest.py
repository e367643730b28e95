"""Load test for `polycom serve` (loopback only, bounded in time and count).

32 concurrent clients mix plain generation, streamed generation and log-likelihood
scoring for --seconds (default 60). Reports requests/s, p50/p99 latency per kind, any
non-2xx statuses, and checks that no sequence is left running afterwards.

    python3 tools/bench/loadtest.py --port 8000 --clients 32 --seconds 60
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time

PROMPTS = [
    "The capital of France is",
    "A man is sitting on a roof. He",
    "Photosynthesis is the process by which",
    "Question: Which gas do plants absorb?\nAnswer:",
    "Once upon a time",
]


def call(port, method, path, body=None, stream=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = json.dumps(body) if body is not None else None
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if stream and resp.status == 200:
            text = data.decode()
            assert text.rstrip().endswith("data: [DONE]"), "stream did not end with [DONE]"
        return resp.status
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=100000)
    args = ap.parse_args()

    deadline = time.time() + args.seconds
    lock = threading.Lock()
    results = {"generate": [], "stream": [], "score": []}
    statuses = {}
    errors = []
    count = [0]

    def client(seed):
        rng = random.Random(seed)
        while time.time() < deadline:
            with lock:
                if count[0] >= args.max_requests:
                    return
                count[0] += 1
            kind = rng.choice(["generate", "stream", "score"])
            prompt = rng.choice(PROMPTS)
            if kind == "score":
                body = {"requests": [{"context": prompt, "continuation": c} for c in (" yes", " no", " maybe", " the")]}
                path = "/v1/loglikelihood"
            else:
                body = {"prompt": prompt, "max_tokens": rng.randint(4, 24), "temperature": rng.choice([0, 0.8]),
                        "seed": rng.randint(0, 1000), "stream": kind == "stream"}
                path = "/v1/completions"
            t0 = time.time()
            try:
                status = call(args.port, "POST", path, body, stream=kind == "stream")
            except Exception as e:  # noqa: BLE001 - every failure is reported
                status = f"exception {type(e).__name__}: {e}"
                errors.append(status)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                results[kind].append(time.time() - t0)

    started = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started

    total = sum(len(v) for v in results.values())
    print(f"{total} requests in {elapsed:.1f} s with {args.clients} clients: {total / elapsed:.1f} req/s")
    for kind, lat in results.items():
        if lat:
            lat.sort()
            p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
            print(f"  {kind:9s} n={len(lat):5d}  p50 {statistics.median(lat) * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms")
    print("statuses:", statuses)
    time.sleep(0.5)
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    conn.request("GET", "/metrics")
    metrics = conn.getresponse().read().decode()
    running = [l for l in metrics.splitlines() if l.startswith("polycom_sequences_running ")]
    waiting = [l for l in metrics.splitlines() if l.startswith("polycom_sequences_waiting ")]
    print("after:", running, waiting)
    bad = sum(n for s, n in statuses.items() if not (isinstance(s, int) and s < 500))
    leaked = running and running[0].split()[-1] != "0"
    if bad or leaked:
        raise SystemExit(f"FAILED: {bad} 5xx/exceptions, leaked sequences: {leaked}")


if __name__ == "__main__":
    main()
