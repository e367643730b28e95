"""HellaSwag documents per second: `polycom eval` against lm-evaluation-harness 0.4 +
`polycom serve` (the README's `local-completions` command), on the same documents, the
same model and machine, runs alternating (lm-eval, polycom eval, lm-eval, ...). Also prints
the forward-pass tokens `polycom eval` computed against the naive count (every choice with
its own context), and checks that both got the same acc.

    swift build -c release --product polycom
    nice -n 10 /tmp/lmeval/bin/python tools/bench/eval_speed.py --docs 200 --rounds 3 [--model Models/polynorm-kjv]

Needs the venv of tools/reference/make_eval_reference.py. The machine may be shared:
compare the numbers of one round (they ran back to back), not numbers of different runs.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "reference"))
import make_eval_reference as ref  # noqa: E402


def time_lm_eval(args, data, max_length):
    """lm-eval's whole run (task index, dataset, requests, metrics) and its scoring alone
    (`loglikelihood`: remote tokenization plus the API requests)."""
    import lm_eval
    from lm_eval.models.openai_completions import LocalCompletionsAPI
    from lm_eval.tasks import TaskManager

    scoring = []
    original = LocalCompletionsAPI.loglikelihood

    def timed(self, *a, **k):
        t = time.time()
        try:
            return original(self, *a, **k)
        finally:
            scoring.append(time.time() - t)

    LocalCompletionsAPI.loglikelihood = timed
    port = ref.free_port()
    server = ref.start_server(args.polycom, port, model=args.model)
    try:
        model_args = (f"model={Path(args.model).name},base_url=http://127.0.0.1:{port}/v1/completions,"
                      f"num_concurrent={args.concurrent},max_retries=1,max_length={max_length}")
        t0 = time.time()
        out = lm_eval.simple_evaluate(model="local-completions", model_args=model_args, tasks=["hellaswag_local"],
                                      task_manager=TaskManager(include_path=str(ref.task_dir(data))),
                                      batch_size=args.batch_size, limit=args.docs, bootstrap_iters=0)
        seconds = time.time() - t0
    finally:
        LocalCompletionsAPI.loglikelihood = original
        server.terminate()
        server.wait()
    return seconds, sum(scoring), out["results"]["hellaswag_local"]["acc,none"]


def time_polycom_eval(args, data, max_length):
    results = tempfile.mktemp(suffix=".json")
    t0 = time.time()
    run = subprocess.run([args.polycom, "eval", "--model", args.model, "--task", "hellaswag",
                          "--data", str(data / "hellaswag.jsonl"), "--limit", str(args.docs),
                          "--max-length", str(max_length - 1), "--output", results],
                         capture_output=True, text=True)
    seconds = time.time() - t0
    if run.returncode != 0:
        raise SystemExit(run.stderr)
    summary = run.stderr.strip().splitlines()[-1]
    scoring = float(re.search(r"in ([0-9.]+) s", summary).group(1))
    tokens = re.search(r"(\d+) computed, (\d+) without", summary)
    acc = json.loads(Path(results).read_text())["results"]["hellaswag"]["acc"]
    os.unlink(results)
    return seconds, scoring, acc, (int(tokens.group(1)), int(tokens.group(2))) if tokens else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1, help="lm-eval then polycom eval, this many times")
    ap.add_argument("--model", default=str(ref.MODEL))
    ap.add_argument("--polycom", default=str(REPO / ".build" / "release" / "polycom"))
    ap.add_argument("--batch-size", type=int, default=4, help="lm-eval --batch_size (the README's 4)")
    ap.add_argument("--concurrent", type=int, default=1, help="lm-eval num_concurrent (the README's 1)")
    args = ap.parse_args()
    import lm_eval

    data = REPO / "tools" / "lm-eval" / "data"
    # The README's lm-eval command: the model's context minus the one generated token.
    max_length = json.loads((Path(args.model) / "config.json").read_text())["max_position_embeddings"] - 1
    print(f"model {args.model}, {args.docs} HellaSwag docs, lm-eval {lm_eval.__version__} "
          f"(batch_size {args.batch_size}, num_concurrent {args.concurrent}, max_length {max_length}); "
          f"{os.cpu_count()} CPUs, nice {os.nice(0)}", flush=True)
    lm_rates, lm_scoring_rates, ours_rates, scoring_rates = [], [], [], []
    tokens = None
    for r in range(args.rounds):
        load = os.getloadavg()[0]
        lm_seconds, lm_scoring, lm_acc = time_lm_eval(args, data, max_length)
        ours_seconds, scoring, acc, tokens = time_polycom_eval(args, data, max_length)
        if abs(acc - lm_acc) > 1e-12:
            print(f"  acc differs: lm-eval {lm_acc} polycom eval {acc}")
        lm_rates.append(args.docs / lm_seconds)
        lm_scoring_rates.append(args.docs / lm_scoring)
        ours_rates.append(args.docs / ours_seconds)
        scoring_rates.append(args.docs / scoring)
        print(f"round {r + 1} (load average {load:.1f} → {os.getloadavg()[0]:.1f}): "
              f"lm-eval + serve {lm_seconds:.1f} s = {lm_rates[-1]:.2f} docs/s, "
              f"scoring alone {lm_scoring:.1f} s = {lm_scoring_rates[-1]:.2f} docs/s; "
              f"polycom eval {ours_seconds:.1f} s with start-up = {ours_rates[-1]:.2f} docs/s, "
              f"scoring alone {scoring:.1f} s = {scoring_rates[-1]:.2f} docs/s; "
              f"ratio {ours_rates[-1] / lm_rates[-1]:.1f}x (whole runs), {scoring_rates[-1] / lm_scoring_rates[-1]:.1f}x (scoring alone); "
              f"acc {lm_acc:.4f} / {acc:.4f}", flush=True)
    whole = [o / l for o, l in zip(ours_rates, lm_rates)]
    alone = [o / l for o, l in zip(scoring_rates, lm_scoring_rates)]
    med = statistics.median
    print(f"median docs/s: lm-eval {med(lm_rates):.2f} whole, {med(lm_scoring_rates):.2f} scoring alone; "
          f"polycom eval {med(ours_rates):.2f} whole, {med(scoring_rates):.2f} scoring alone")
    print(f"per-round ratio: whole runs median {med(whole):.1f}x (min {min(whole):.1f}x), "
          f"scoring alone median {med(alone):.1f}x (min {min(alone):.1f}x)")
    if tokens:
        c, n = tokens
        print(f"forward-pass tokens: {c} computed, {n} naive ({n / c:.2f}x fewer)")


if __name__ == "__main__":
    main()
