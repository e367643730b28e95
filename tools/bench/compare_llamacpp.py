"""Side-by-side speed: polycom vs llama.cpp (llama-bench) on the same stock-Llama checkpoint,
bf16 and Q8_0, in rounds that alternate the programs on the same threads. Prints each
number's median and range over the rounds, the load average and read bandwidth of each
round, and the performance issue's ratios (decode b1 over llama.cpp's tg, prefill over pp).

    python3 tools/bench/compare_llamacpp.py --llama-bench /tmp/llcpp/build/bin/llama-bench \\
        --convert /tmp/llcpp/llama.cpp/convert_hf_to_gguf.py [--rounds 3] [--polycom PATH]

llama.cpp has no PolyNorm MLP, so the checkpoint is Llama (SwiGLU, intermediate 5504) with
PolyNorm_1B's weight bytes and FLOPs per token: 3 * 2048 * 5504 = 2 * 2048 * 8256 MLP weights
per layer (hidden 2048, 16 heads of 128, vocab 32000, untied head, random bf16 values).
polycom runs on that folder, and on the PolyNorm folder of compare_torch.py for the record.
The GGUF files are written next to the checkpoint by convert_hf_to_gguf.py (bf16) and
llama-quantize (Q8_0), or given with --bf16-gguf / --q8-gguf. How to build llama.cpp offline:
tools/bench/README.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

from compare_torch import HIDDEN, INTER, ROOT, add_polycom_argument, dense, polycom

LLAMA_INTER = 2 * INTER // 3  # 5504: a gated MLP's 3 matrices hold PolyNorm's 2 matrices' weights
TARGETS = {"bf16 decode b1 / llama.cpp bf16 tg": 1.2, "q8 decode b1 / llama.cpp Q8_0 tg": 1.5}


def fail(message):
    sys.exit(f"compare_llamacpp.py: {message}")


def executable(path, what):
    found = shutil.which(path) if path else None
    if not found:
        fail(f"{what} not found ({path or 'not given'}); build llama.cpp as tools/bench/README.md says "
             "(the llama-cpp-python sdist vendors its source) and pass its path")
    return found


def llama_checkpoint(layers):
    """The stock-Llama folder, made once with make_random_checkpoint.py (its tokenizer: the demo's,
    32000 entries, which convert_hf_to_gguf.py reads as a Llama HF vocabulary)."""
    assert 3 * LLAMA_INTER == 2 * INTER
    path = f"/tmp/polycom-bench-llama-{layers}l"
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return path
    with open(os.path.join(ROOT, "Configs", "PolyNorm_1B", "config.json")) as f:
        c = json.load(f)
    c.update(architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu",
             intermediate_size=LLAMA_INTER, num_hidden_layers=layers)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench", "make_random_checkpoint.py"), path, path,
                    "--tokenizer", os.path.join(ROOT, "Models", "polynorm-demo")], check=True)
    return path


def gguf_files(args, folder):
    bf16 = args.bf16_gguf or os.path.join(folder, "llama-bf16.gguf")
    q8 = args.q8_gguf or os.path.join(folder, "llama-q8_0.gguf")
    if not os.path.exists(bf16):
        if not args.convert or not os.path.exists(args.convert):
            fail(f"{bf16} does not exist and --convert (llama.cpp's convert_hf_to_gguf.py) was not found")
        subprocess.run([sys.executable, args.convert, folder, "--outtype", "bf16", "--outfile", bf16], check=True)
    if not os.path.exists(q8):
        quantize = executable(args.llama_quantize or os.path.join(os.path.dirname(args.llama_bench), "llama-quantize"),
                              "llama-quantize")
        subprocess.run([quantize, bf16, q8, "Q8_0"], check=True)
    return bf16, q8


def llama_bench(binary, gguf, args):
    """llama-bench's mean tok/s (over its -r repetitions) per test: pp<N>, and its tg test (one
    sequence) under polycom's name for batch 1."""
    out = subprocess.run([binary, "-m", gguf, "-p", "128,512", "-n", str(args.decode_tokens), "-t", str(args.threads),
                          "-r", str(args.repeats), "-o", "json"], check=True, capture_output=True, text=True).stdout
    tests = json.loads(out)
    rates = {(f"pp{t['n_prompt']}" if t["n_prompt"] else "tg b1"): t["avg_ts"] for t in tests}
    return rates, tests[0]["cpu_info"], tests[0]["build_commit"]


def polycom_rates(j):
    return {"pp128": j["prefill_at"][128]["tokens_per_s"], "pp512": j["prefill_at"][512]["tokens_per_s"],
            "tg b1": j["decode_at"][1]["tokens_per_s"], "tg b8": j["decode_at"][8]["tokens_per_s"]}


def spread(values):
    return f"{statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llama-bench", default="llama-bench", help="llama.cpp's llama-bench binary")
    ap.add_argument("--convert", help="llama.cpp's convert_hf_to_gguf.py (only when a GGUF file is missing)")
    ap.add_argument("--llama-quantize", help="default: llama-quantize next to llama-bench")
    ap.add_argument("--bf16-gguf")
    ap.add_argument("--q8-gguf")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--save", help="also write every round's rates to this JSON file")
    ap.add_argument("--no-polynorm", action="store_true", help="skip polycom's run on the PolyNorm folder")
    add_polycom_argument(ap)
    args = ap.parse_args()
    args.scoring_docs = 0  # polycom() passes it; llama-bench has no scoring to compare with
    args.llama_bench = executable(args.llama_bench, "llama-bench")
    if not os.access(args.polycom, os.X_OK):
        fail(f"polycom binary {args.polycom} not found: swift build -c release --product polycom, or pass --polycom")

    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
    folder = llama_checkpoint(args.layers)
    bf16, q8 = gguf_files(args, folder)
    polynorm = None
    if not args.no_polynorm:
        polynorm = f"/tmp/polycom-bench-model-{args.layers}l"
        if not os.path.exists(os.path.join(polynorm, "model.safetensors")):
            os.makedirs(polynorm, exist_ok=True)
            dense(args.layers, polynorm)
    threads = ("--threads", str(args.threads))
    runs = [("llama.cpp bf16", lambda: llama_bench(args.llama_bench, bf16, args)),
            ("polycom bf16 (f32 math)", lambda: polycom(folder, args, *threads)),
            ("llama.cpp Q8_0", lambda: llama_bench(args.llama_bench, q8, args)),
            ("polycom --weights q8", lambda: polycom(folder, args, "--weights", "q8", *threads)),
            ("polycom --bf16-prefill", lambda: polycom(folder, args, "--bf16-prefill", *threads))]
    if polynorm:
        runs.append(("polycom PolyNorm bf16", lambda: polycom(polynorm, args, *threads)))

    rates = {name: [] for name, _ in runs}
    for r in range(args.rounds):
        load, reads = os.getloadavg()[0], []
        for name, run in runs if r % 2 == 0 else runs[::-1]:  # alternate which program runs first
            result = run()
            if name.startswith("llama.cpp"):
                rates[name].append(result[0])
                cpu, commit = result[1], result[2]
            else:
                rates[name].append(polycom_rates(result))
                reads.append(result["roofline"]["read_gb_per_s"])
                if name == "polycom bf16 (f32 math)":
                    weight_bytes = result["weight_bytes"]
        print(f"round {r + 1}: load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; read bandwidth "
              f"{', '.join(f'{g:.1f}' for g in reads)} GB/s (polycom's AVX-512 probe, each polycom run)")
        if args.save:
            with open(args.save, "w") as f:
                json.dump(rates, f, indent=1)
        print("  " + "; ".join(f"{name}: pp512 {x[-1]['pp512']:.0f}, decode b1 {x[-1]['tg b1']:.1f}"
                               for name, x in rates.items()), flush=True)

    print(f"llama.cpp {commit} on {cpu}; {args.threads} threads; tg{args.decode_tokens} from an empty context, "
          f"polycom decode {args.decode_tokens} steps after a 64-token prompt")
    print(f"Llama, {args.layers} layers (hidden {HIDDEN}, SwiGLU {LLAMA_INTER}): {weight_bytes / 1e9:.2f} GB bf16 "
          f"per decode step; tok/s, median [range] of {args.rounds} rounds")
    print(f"{'':26s}" + "".join(f"{k:>24s}" for k in ("prefill128", "prefill512", "decode b1", "decode b8")))
    for name, per_round in rates.items():
        cells = [spread([x[k] for x in per_round]) if k in per_round[0] else "-"
                 for k in ("pp128", "pp512", "tg b1", "tg b8")]
        print(f"{name:26s}" + "".join(f"{c:>24s}" for c in cells))

    def ratio(ours, theirs, key):
        """Per round (both ran minutes apart), and best over best: on shared cores a
        program's fastest round is the one least slowed by the others' work."""
        a, b = [x[key] for x in rates[ours]], [x[key] for x in rates[theirs]]
        return [x / y for x, y in zip(a, b)], max(a) / max(b)
    checks = [("bf16 decode b1 / llama.cpp bf16 tg", ratio("polycom bf16 (f32 math)", "llama.cpp bf16", "tg b1")),
              ("q8 decode b1 / llama.cpp Q8_0 tg", ratio("polycom --weights q8", "llama.cpp Q8_0", "tg b1"))]
    for T in (128, 512):
        checks += [(f"bf16 prefill {T} / llama.cpp bf16 pp{T}", ratio("polycom bf16 (f32 math)", "llama.cpp bf16", f"pp{T}")),
                   (f"--bf16-prefill {T} / llama.cpp bf16 pp{T}", ratio("polycom --bf16-prefill", "llama.cpp bf16", f"pp{T}")),
                   (f"q8 prefill {T} / llama.cpp Q8_0 pp{T}", ratio("polycom --weights q8", "llama.cpp Q8_0", f"pp{T}"))]
    print(f"{'ratio':44s} {'per-round median':>16s} {'range':>13s} {'best/best':>9s} {'target':>7s}")
    for name, (values, best) in checks:
        target = TARGETS.get(name)
        verdict = "" if target is None else f" {target:7.2f}  " + ("met" if min(statistics.median(values), best) >= target
                                                                   else "not met")
        print(f"{name:44s} {statistics.median(values):16.2f} {min(values):6.2f}-{max(values):<6.2f} {best:9.2f}{verdict}")


if __name__ == "__main__":
    main()
