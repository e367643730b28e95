"""Throws random and malformed requests at a running `polycom serve` (loopback only,
bounded in count) and checks that it never answers 5xx or stops answering.

    python3 tools/bench/fuzz_server.py --port 8000 --requests 3000
"""
import argparse
import http.client
import json
import random
import socket

FIELDS = ["prompt", "max_tokens", "temperature", "top_p", "top_k", "min_p", "n", "stop", "seed", "logprobs", "echo",
          "stream", "stream_options", "model", "presence_penalty", "frequency_penalty", "repetition_penalty",
          "stop_token_ids", "ignore_eos", "requests", "tokens", "add_special_tokens"]
PATHS = ["/v1/completions", "/v1/loglikelihood", "/tokenize", "/detokenize", "/v1/tokenize", "/v1/models", "/health",
         "/metrics", "/tokenizer_info", "/nope", "/v1/completions/", "//v1//completions"]


def value(rng, depth=0):
    kinds = ["int", "bigint", "neg", "float", "str", "unicode", "bool", "null", "list", "dict", "ids"]
    k = rng.choice(kinds if depth < 2 else kinds[:8])
    if k == "int": return rng.randint(0, 50)
    if k == "bigint": return rng.choice([2**31, 2**63 - 1, 10**30, -2**63])
    if k == "neg": return -rng.randint(1, 100)
    if k == "float": return rng.choice([0.0, 0.5, 1e308, -1e-300, 3.7, float(rng.randint(0, 3))])
    if k == "str": return rng.choice(["", "hello", "The capital of France is", "a" * rng.randint(0, 3000), "</s>"])
    if k == "unicode":
        return "".join(chr(c) for c in (rng.randint(1, 0x10FFFF) for _ in range(rng.randint(0, 20))) if not 0xD800 <= c <= 0xDFFF)
    if k == "bool": return rng.random() < 0.5
    if k == "null": return None
    if k == "list": return [value(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    if k == "dict": return {rng.choice(FIELDS): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [rng.randint(-5, 40000) for _ in range(rng.randint(0, 10))]


def body(rng):
    r = rng.random()
    if r < 0.1:
        return bytes(rng.randint(0, 255) for _ in range(rng.randint(0, 200)))
    if r < 0.2:
        return json.dumps({"prompt": "x", "max_tokens": 2}).encode()[: rng.randint(0, 30)]
    doc = {rng.choice(FIELDS): value(rng) for _ in range(rng.randint(0, 8))}
    if rng.random() < 0.5:
        doc.setdefault("prompt", value(rng))
        doc["max_tokens"] = rng.choice([0, 1, 3, -1, None, "5"])
    try:
        return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except (UnicodeEncodeError, ValueError):
        return b"{}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    statuses = {}
    for i in range(args.requests):
        if rng.random() < 0.03:  # half-closed and raw-garbage connections
            s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
            s.sendall(bytes(rng.randint(0, 255) for _ in range(rng.randint(1, 300))))
            if rng.random() < 0.5:
                s.shutdown(socket.SHUT_WR)
            s.close()
            continue
        conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=60)
        method = rng.choice(["POST"] * 8 + ["GET", "PUT", "DELETE", "HEAD"])
        conn.request(method, rng.choice(PATHS), body=body(rng), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
        if resp.status >= 500 and resp.status != 503:
            raise SystemExit(f"request {i}: {resp.status} {data[:300]!r}")
        if method != "HEAD" and resp.status == 200 and resp.getheader("Content-Type", "").startswith("application/json"):
            text = data.decode()
            assert "NaN" not in text and "Infinity" not in text, text[:300]
            json.loads(text)
        conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200, "server unhealthy after fuzzing"
    print(f"{args.requests} requests, statuses {dict(sorted(statuses.items()))}; server healthy")


if __name__ == "__main__":
    main()
