"""HellaSwag documents per second: `polycom eval` against lm-evaluation-harness 0.4 +
`polycom serve` (the README's `local-completions` command), on the same documents, the
same model and machine, one after the other. Also prints the forward-pass tokens
`polycom eval` computed against the naive count (every choice with its own context).

    swift build -c release --product polycom
    /tmp/lmeval/bin/python tools/bench/eval_speed.py --docs 200 [--model Models/polynorm-demo]

Needs the venv of tools/reference/make_eval_reference.py. The machine may be shared:
compare the two numbers of one run, not numbers of different runs.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "reference"))
import make_eval_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--polycom", default=str(REPO / ".build" / "release" / "polycom"))
    ap.add_argument("--batch-size", type=int, default=4, help="lm-eval --batch_size (the README's 4)")
    ap.add_argument("--concurrent", type=int, default=1, help="lm-eval num_concurrent (the README's 1)")
    args = ap.parse_args()
    data = REPO / "tools" / "lm-eval" / "data"
    max_length = 511  # the README's lm-eval command: the demo model's 512 minus the generated token

    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    port = ref.free_port()
    server = ref.start_server(args.polycom, port)
    try:
        import lm_eval
        from lm_eval.tasks import TaskManager
        model_args = (f"model=polynorm-demo,base_url=http://127.0.0.1:{port}/v1/completions,"
                      f"num_concurrent={args.concurrent},max_retries=1,max_length={max_length}")
        t0 = time.time()
        out = lm_eval.simple_evaluate(model="local-completions", model_args=model_args, tasks=["hellaswag_local"],
                                      task_manager=TaskManager(include_path=str(ref.task_dir(data))),
                                      batch_size=args.batch_size, limit=args.docs, bootstrap_iters=0)
        lm_seconds = time.time() - t0
        lm_acc = out["results"]["hellaswag_local"]["acc,none"]
    finally:
        server.terminate()
        server.wait()

    t0 = time.time()
    run = subprocess.run([args.polycom, "eval", "--model", str(ref.MODEL), "--task", "hellaswag",
                          "--data", str(data / "hellaswag.jsonl"), "--limit", str(args.docs),
                          "--max-length", str(max_length - 1), "--output", tempfile.mktemp(suffix=".json")],
                         capture_output=True, text=True)
    ours_seconds = time.time() - t0
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    summary = run.stderr.strip().splitlines()[-1]
    scoring = float(re.search(r"in ([0-9.]+) s", summary).group(1))
    tokens = re.search(r"(\d+) computed, (\d+) without", summary)
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"lm-eval {lm_eval.__version__} + polycom serve: {args.docs} docs in {lm_seconds:.1f} s = "
          f"{args.docs / lm_seconds:.1f} docs/s (acc {lm_acc:.4f}; batch_size {args.batch_size}, num_concurrent {args.concurrent})")
    print(f"polycom eval: {args.docs} docs in {ours_seconds:.1f} s with start-up = {args.docs / ours_seconds:.1f} docs/s; "
          f"scoring alone {scoring:.1f} s = {args.docs / scoring:.1f} docs/s")
    print(f"ratio: {lm_seconds / ours_seconds:.1f}x (with start-up), {lm_seconds / scoring:.1f}x (scoring)")
    if tokens:
        c, n = int(tokens.group(1)), int(tokens.group(2))
        print(f"forward-pass tokens: {c} computed, {n} naive ({n / c:.2f}x fewer)")
    print(run.stdout)


if __name__ == "__main__":
    main()
