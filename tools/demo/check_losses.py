#!/usr/bin/env python3
"""`make demo-model-check`: the re-run's first N logged losses against the shipped model's
metrics.jsonl, compared as doubles with ==, not within a tolerance (the same seeds and BLAS
threads give the same arithmetic). Exits 1 on any difference, after saying where the two runs'
settings differ (training_args.json) and which step first differs.

    python3 tools/demo/check_losses.py --shipped Models/polynorm-kjv --run .build/demo/check --steps 20
"""
import argparse, json, os, sys

# Where the check run is meant to differ: its folder and length; paths follow DEMO_DIR.
EXPECTED_DIFFERENT = {"out", "steps"}
PATHS = {"data", "val_data", "tokenizer", "init"}


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shipped", required=True, help="the shipped model folder")
    ap.add_argument("--run", required=True, help="the folder the re-run wrote")
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    with open(os.path.join(a.shipped, "training_args.json")) as f:
        shipped_args = json.load(f)
    with open(os.path.join(a.run, "training_args.json")) as f:
        run_args = json.load(f)
    # Only the keys the shipped file has: options added to the trainer later are new, not changed.
    differ = {k: (v, run_args.get(k)) for k, v in shipped_args.items() if k not in EXPECTED_DIFFERENT and run_args.get(k) != v}
    for k, (s, r) in differ.items():
        print(f"training_args.json {k}: shipped {s!r}, re-run {r!r}" + (" (a path: not an error)" if k in PATHS else ""))
    shipped = lines(os.path.join(a.shipped, "metrics.jsonl"))[:a.steps]
    run = lines(os.path.join(a.run, "metrics.jsonl"))[:a.steps]
    if len(shipped) < a.steps or len(run) < a.steps:
        print(f"need {a.steps} steps: shipped has {len(shipped)}, re-run {len(run)}")
        return 1
    bad = [(s["step"], s["loss"], r["loss"]) for s, r in zip(shipped, run) if s["step"] != r["step"] or s["loss"] != r["loss"]]
    for step, s, r in bad:
        print(f"step {step}: shipped loss {s!r}, re-run {r!r} (difference {r - s:.3g})")
    if bad or set(differ) - PATHS:
        print(f"FAIL: {len(bad)} of the first {a.steps} losses differ" + (f"; settings differ: {sorted(set(differ) - PATHS)}" if set(differ) - PATHS else ""))
        return 1
    print(f"OK: the first {a.steps} losses equal the shipped metrics.jsonl exactly (steps 1-{a.steps}, "
          f"{shipped[0]['loss']!r} ... {shipped[-1]['loss']!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
