#!/usr/bin/env python3
"""PolyNorm vs SwiGLU vs ReLU at toy scale (the PolyCom paper's headline comparison):
`polycom train --init` runs on the demo corpus that differ only in the MLP
(tools/demo/replication/*.json: same shape, parameter counts within 16 of each other, same
token budget and learning-rate schedule), each activation once per seed (the seed sets both the
init and the data order, so the three runs of one seed share both).

Writes OUT/<activation>.metrics.jsonl (seed 0) and OUT/<activation>.seed<N>.metrics.jsonl,
OUT/val_loss.svg (the validation-loss curves), OUT/results.json and OUT/results.md (final
validation losses, parameter counts).

    python3 tools/demo/replicate.py --polycom .build/release/polycom --tokenizer .build/demo/tokenizer \\
        --train .build/demo/corpus/train.jsonl --val .build/demo/corpus/val.jsonl \\
        --work .build/demo/replication --out Models/replication --jobs 3
    python3 tools/demo/replicate.py --plot-only --out Models/replication   # redraw from the metrics

--jobs 3 runs three at once (one BLAS thread each by default); the losses do not depend on it,
only the wall time does.
"""
import argparse, json, math, os, shutil, struct, subprocess, sys
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
RUNS = [("polynorm", "PolyNorm (polyllama, plain MLP)", "#d62728"),
        ("swiglu", "SwiGLU (llama, gated SiLU)", "#1f77b4"),
        ("relu", "ReLU (polyllama, plain MLP)", "#2ca02c")]


def parameter_count(safetensors):
    with open(safetensors, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    header.pop("__metadata__", None)
    return sum(math.prod(t["shape"]) for t in header.values())


def tag(name, seed):
    """Seed 0 is the main run; other seeds (init and data order together) measure the spread."""
    return name if seed == 0 else f"{name}.seed{seed}"


def train(a, name, seed):
    run = os.path.join(a.work, tag(name, seed))
    shutil.rmtree(run, ignore_errors=True)
    cmd = [a.polycom, "train", "--init", os.path.join(os.path.relpath(HERE), "replication", name + ".json"),
           "--tokenizer", a.tokenizer, "--init-seed", str(seed), "--data", a.train, "--val-data", a.val, "--out", run,
           "--seq-len", "256", "--batch-size", "8", "--steps", str(a.steps), "--lr", "2e-3", "--warmup-steps", "50",
           "--eval-every", str(a.eval_every), "--save-dtype", "bf16", "--seed", str(seed), "--threads", str(a.threads)]
    with open(run + ".log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=log)
    shutil.copy(os.path.join(run, "metrics.jsonl"), os.path.join(a.out, tag(name, seed) + ".metrics.jsonl"))
    return name, parameter_count(os.path.join(run, "model.safetensors"))


def load(out, name):
    with open(os.path.join(out, name + ".metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


def svg(curves):
    """curves: [(label, color, [[(step, val_loss)] per seed, seed 0 first])] -> one plot: seed 0
    drawn bold with its points, the other seeds thin, the loss axis fitted to all points."""
    w, h, pad = 720.0, 380.0, 56.0
    pts = [p for _, _, runs in curves for c in runs for p in c]
    s_hi = max(s for s, _ in pts)
    lo, hi = math.floor(min(v for _, v in pts) * 2) / 2, math.ceil(max(v for _, v in pts) * 2) / 2
    x = lambda s: pad + s / s_hi * (w - 2 * pad)
    y = lambda v: h - pad - (v - lo) / (hi - lo) * (h - 2 * pad)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h:.0f}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>']
    for i in range(int(round((hi - lo) / 0.5)) + 1):
        v = lo + 0.5 * i
        out.append(f'<line x1="{pad}" y1="{y(v):.1f}" x2="{w - pad}" y2="{y(v):.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{pad - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    for s in range(0, int(s_hi) + 1, max(1, int(s_hi) // 8)):
        out.append(f'<text x="{x(s):.1f}" y="{h - pad + 16}" text-anchor="middle">{s}</text>')
    out.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>')
    out.append(f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>')
    out.append(f'<text x="{w / 2:.0f}" y="{h - 12}" text-anchor="middle">step (2048 tokens each)</text>')
    out.append(f'<text x="14" y="{h / 2:.0f}" transform="rotate(-90 14 {h / 2:.0f})" text-anchor="middle">validation loss (nats/token)</text>')
    for i, (label, color, runs) in enumerate(curves):
        for k, c in enumerate(runs):
            line = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in c)
            width, opacity = ("2", "1") if k == 0 else ("1", "0.45")
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" stroke-opacity="{opacity}" points="{line}"/>')
        out += [f'<circle cx="{x(s):.1f}" cy="{y(v):.1f}" r="2.5" fill="{color}"/>' for s, v in runs[0]]
        finals = ", ".join(f"{c[-1][1]:.3f}" for c in runs)
        out.append(f'<text x="{w - pad - 330}" y="{pad + 4 + 18 * i}" fill="{color}">{label}: {finals}</text>')
    if any(len(r) > 1 for _, _, r in curves):
        out.append(f'<text x="{w - pad - 330}" y="{pad + 4 + 18 * len(curves)}" fill="#555555">bold: seed 0; thin: the other seeds (final losses in seed order)</text>')
    return "\n".join(out + ["</svg>"]) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--polycom", default=".build/release/polycom")
    ap.add_argument("--tokenizer", default=".build/demo/tokenizer")
    ap.add_argument("--train", default=".build/demo/corpus/train.jsonl")
    ap.add_argument("--val", default=".build/demo/corpus/val.jsonl")
    ap.add_argument("--work", default=".build/demo/replication")
    ap.add_argument("--out", default="Models/replication")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--seeds", default="0,1,2", help="init and data-order seeds; every activation runs with each")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="runs at once")
    ap.add_argument("--keep", action="store_true", help="do not re-train runs whose metrics and weights are already there")
    ap.add_argument("--plot-only", action="store_true", help="only redraw OUT from its metrics and results.json")
    a = ap.parse_args()
    seeds = [int(x) for x in a.seeds.split(",")]
    os.makedirs(a.out, exist_ok=True)
    results_path = os.path.join(a.out, "results.json")
    if a.plot_only:
        with open(results_path) as f:
            params = {r["activation"]: r["parameters"] for r in json.load(f)["runs"]}
    else:
        os.makedirs(a.work, exist_ok=True)

        def job(r):
            name, seed = r
            weights = os.path.join(a.work, tag(name, seed), "model.safetensors")
            if a.keep and os.path.exists(weights) and os.path.exists(os.path.join(a.out, tag(name, seed) + ".metrics.jsonl")):
                return name, parameter_count(weights)
            return train(a, name, seed)
        with ThreadPoolExecutor(a.jobs) as pool:
            params = dict(pool.map(job, [(name, seed) for seed in seeds for name, _, _ in RUNS]))
    rows, curves = [], []
    for name, label, color in RUNS:
        runs = []
        for seed in seeds:
            m = load(a.out, tag(name, seed))
            vals = [(r["step"], r["val_loss"]) for r in m if "val_loss" in r]
            runs.append(vals)
            rows.append({"activation": name, "seed": seed, "parameters": params[name], "steps": m[-1]["step"],
                         "tokens": m[-1]["tokens"], "final_train_loss": m[-1]["loss"], "final_val_loss": vals[-1][1],
                         "wall_s": round(m[-1]["elapsed_s"], 1)})
        curves.append((label, color, runs))
    with open(os.path.join(a.out, "val_loss.svg"), "w") as f:
        f.write(svg(curves))
    with open(results_path, "w") as f:
        json.dump({"runs": rows}, f, indent=2)
        f.write("\n")
    md = ["| activation | parameters | tokens | final val loss, seed " + ", ".join(map(str, seeds)) + " | mean | val perplexity (mean) |",
          "|---|---|---|---|---|---|"]
    for name, _, _ in RUNS:
        r = [x for x in rows if x["activation"] == name]
        mean = sum(x["final_val_loss"] for x in r) / len(r)
        md.append(f"| {name} | {r[0]['parameters']:,} | {r[0]['tokens']:,} | " + ", ".join(f"{x['final_val_loss']:.4f}" for x in r)
                  + f" | {mean:.4f} | {math.exp(mean):.2f} |")
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    sys.exit(main())
