"""Side-by-side speed: polycom vs PyTorch + transformers on the same checkpoint, in the
same run, next to this machine's measured limits (memory bandwidth, sgemm peak).

    swift build -c release --product polycom
    python3 tools/bench/compare_torch.py                # builds /tmp/polycom-bench-model once
    python3 tools/bench/compare_torch.py --layers 24    # the full PolyNorm_1B shape (2.7 GB)

The checkpoint has PolyNorm_1B's shapes (hidden 2048, intermediate 8256, 16 heads, vocab
32000, bf16) with --layers layers and random weights: speed does not depend on the values.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import make_act  # noqa: E402  (the PolyNorm module of the fixtures)
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class PolyMLP(torch.nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.up_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.down_proj = torch.nn.Linear(inter, hidden, bias=False)
        self.act_fn = make_act("polynorm")

    def forward(self, x):
        return self.down_proj(self.act_fn(self.up_proj(x)))


def build(layers, path):
    cfg = LlamaConfig(hidden_size=2048, intermediate_size=8256, num_hidden_layers=layers, num_attention_heads=16,
                      num_key_value_heads=16, vocab_size=32000, max_position_embeddings=2048, rms_norm_eps=1e-5,
                      tie_word_embeddings=False, torch_dtype="bfloat16")
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    for layer in model.model.layers:
        layer.mlp = PolyMLP(2048, 8256)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    model = model.to(torch.bfloat16)
    if not os.path.exists(os.path.join(path, "config.json")):
        model.save_pretrained(path, safe_serialization=True, max_shard_size="20GB")
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)
        c.update(model_type="polyllama", hidden_act="polynorm")
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(c, f, indent=2)
    return model


def time_torch(model, prompt_tokens, decode_tokens, repeats):
    ids = torch.randint(0, 32000, (1, prompt_tokens))
    best_prefill = best_decode = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = model(ids, use_cache=True)
            best_prefill = min(best_prefill, time.perf_counter() - t0)
            past = out.past_key_values
            tok = ids[:, -1:]
            t0 = time.perf_counter()
            for _ in range(decode_tokens):
                out = model(tok, past_key_values=past, use_cache=True)
                past = out.past_key_values
            best_decode = min(best_decode, time.perf_counter() - t0)
    return prompt_tokens / best_prefill, decode_tokens / best_decode


def numpy_sgemm():
    # numpy's bundled OpenBLAS: the well-tuned f32 GEMM prefill is measured against.
    x = np.random.rand(2048, 2048).astype(np.float32)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        x @ x
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048 ** 3 / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    path = f"/tmp/polycom-bench-model-{args.layers}l"
    os.makedirs(path, exist_ok=True)
    model = build(args.layers, path)
    weights_gb = sum(p.numel() * 2 for n, p in model.named_parameters() if "embed_tokens" not in n) / 1e9

    sgemm = numpy_sgemm()
    limits = {}
    polycom = os.path.join(ROOT, ".build", "release", "polycom")
    def bench(*flags):
        out = subprocess.run([polycom, "bench", "model", "--model", path, "--prompt-tokens", str(args.prompt_tokens),
                              "--decode-tokens", str(args.decode_tokens), "--batch", "1", "--repeats", str(args.repeats),
                              "--json", *flags], check=True, capture_output=True, text=True).stdout
        ours = json.loads(out)
        # The read-bandwidth probe of polycom's run (AVX-512 loads on all cores): numpy's
        # sum under-reads bandwidth by about 2x.
        limits.setdefault("read", ours.get("roofline", {}).get("read_gb_per_s", float("nan")))
        return ours["prefill_tokens_per_s"], ours["decode_tokens_per_s"]

    rows = [("polycom (bf16 weights, f32 math)", *bench()),
            ("polycom --bf16-prefill", *bench("--bf16-prefill")),
            ("polycom --weights q8", *bench("--weights", "q8"))]
    rows.append(("torch bf16", *time_torch(model, args.prompt_tokens, args.decode_tokens, args.repeats)))
    rows.append(("torch f32", *time_torch(model.float(), args.prompt_tokens, args.decode_tokens, args.repeats)))

    print(f"machine: {os.cpu_count()} cores, memory read {limits['read']:.1f} GB/s (polycom's probe, all cores), "
          f"numpy sgemm 2048³ {sgemm:.0f} GFLOP/s")
    print(f"model: PolyNorm_1B shapes, {args.layers} layers, {weights_gb:.2f} GB of bf16 weights read per decode step")
    print(f"{'':34s} {'prefill tok/s':>14s} {'decode tok/s':>13s} {'decode GB/s':>12s}")
    for name, p, d in rows:
        # torch f32 reads 4 bytes a weight, q8 1 + 2/32 (its f16 block scales).
        scale = 2 if "f32" in name and "polycom" not in name else 17 / 32 if "q8" in name else 1
        print(f"{name:34s} {p:14.1f} {d:13.2f} {d * weights_gb * scale:12.2f}")
    bandwidth = limits["read"]
    ours, fast, q8, tbf16, tf32 = rows
    print(f"polycom / torch f32 (same precision): prefill {ours[1] / tf32[1]:.2f}x, decode {ours[2] / tf32[2]:.2f}x")
    print(f"polycom / torch bf16:                 prefill {ours[1] / tbf16[1]:.2f}x, decode {ours[2] / tbf16[2]:.2f}x")
    print(f"polycom --bf16-prefill / torch bf16:  prefill {fast[1] / tbf16[1]:.2f}x")
    print(f"polycom q8 decode: {q8[2] / (bandwidth / (weights_gb * 17 / 32)):.0%} of its roofline, {q8[2] / ours[2]:.2f}x bf16")
    print(f"decode roofline (bf16 weights at {bandwidth:.1f} GB/s): {bandwidth / weights_gb:.1f} tok/s; "
          f"prefill roofline (sgemm peak): {sgemm * 1e9 / (2 * weights_gb / 2 * 1e9):.0f} tok/s")


if __name__ == "__main__":
    main()
