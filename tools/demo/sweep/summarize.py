#!/usr/bin/env python3
"""The shape sweep's table for Models/README.md: one row per run folder of tools/demo/sweep/run.sh.

Parameters are counted from the saved model.safetensors header (not from the config), validation
losses and tokens/s come from metrics.jsonl, wall time from trainer_state.json (training plus
evaluations). With --copy DIR each run's metrics.jsonl is kept as DIR/<run>.metrics.jsonl.
"""
import argparse, json, math, os, shutil, struct


def parameters(path):
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    return sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("runs", nargs="+")
    p.add_argument("--copy")
    a = p.parse_args()
    print("| run | hidden × layers, inter | parameters | val loss @100 / 200 / 300 / 400 | wall time | tokens/s |")
    print("|---|---|---|---|---|---|")
    for run in a.runs:
        cfg = json.load(open(os.path.join(run, "config.json")))
        rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
        vals = [f"{r['val_loss']:.3f}" for r in rows if "val_loss" in r]
        state = json.load(open(os.path.join(run, "trainer_state.json")))
        last = rows[-1]
        tps = last["tokens"] / last["elapsed_s"]
        n = parameters(os.path.join(run, "model.safetensors"))
        shape = f"{cfg['hidden_size']} × {cfg['num_hidden_layers']}, {cfg['intermediate_size']}"
        print(f"| {os.path.basename(run)} | {shape} | {n / 1e6:.2f} M | {' / '.join(vals)} "
              f"| {state['elapsed_s']:.0f} s | {tps:.0f} |")
        if a.copy:
            os.makedirs(a.copy, exist_ok=True)
            shutil.copy(os.path.join(run, "metrics.jsonl"),
                        os.path.join(a.copy, os.path.basename(run) + ".metrics.jsonl"))


if __name__ == "__main__":
    main()
