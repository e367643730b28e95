"""Side-by-side speed: polycom vs PyTorch + transformers (and lm-eval's `hf` backend for
scoring) on checkpoints of the same shape, in one run, next to this machine's limits
measured in the same run: read bandwidth (polycom's AVX-512 probe on all cores; numpy's
sum under-reads it by ~2x) and the f32 GEMM rate of numpy's bundled OpenBLAS at the
model's own 512-token shapes. Prints the table of the performance issue and each
acceptance ratio.

    swift build -c release --product polycom
    /tmp/lmeval/bin/python tools/bench/compare_torch.py               # 4 layers, MoE 4 layers
    /tmp/lmeval/bin/python tools/bench/compare_torch.py --layers 24   # the full PolyNorm_1B (2.7 GB)

The dense checkpoint has PolyNorm_1B's shapes (hidden 2048, intermediate 8256, 16 heads,
vocab 32000, bf16), the MoE one the paper's (64 experts of 1536, top-8, vocab 50304), with
random weights: speed does not depend on the values. Needs lm-eval for the scoring row
(the venv of tools/reference/make_eval_reference.py); without it that row is skipped and
says so. Quiet the machine first: every number is one run's median on shared cores.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from common import make_act  # noqa: E402  (the PolyNorm module of the fixtures)
from make_moe_fixtures import PolyNormSparseMoeBlock  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM, OlmoeConfig, OlmoeForCausalLM  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HIDDEN, INTER, VOCAB = 2048, 8256, 32000
# polycom bench model's scoring documents: an 80-token context and 4 endings of 20 tokens.
CONTEXT, ENDINGS, ENDING = 80, 4, 20


class PolyMLP(torch.nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.up_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.down_proj = torch.nn.Linear(inter, hidden, bias=False)
        self.act_fn = make_act("polynorm")

    def forward(self, x):
        return self.down_proj(self.act_fn(self.up_proj(x)))


def randomize(model):
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return model.to(torch.bfloat16).eval()


def save(model, path, overrides):
    if not os.path.exists(os.path.join(path, "config.json")):
        model.save_pretrained(path, safe_serialization=True, max_shard_size="20GB")
        with open(os.path.join(path, "config.json")) as f:
            c = json.load(f)
        c.update(overrides)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(c, f, indent=2)


def dense(layers, path):
    cfg = LlamaConfig(hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=layers, num_attention_heads=16,
                      num_key_value_heads=16, vocab_size=VOCAB, max_position_embeddings=2048, rms_norm_eps=1e-5,
                      tie_word_embeddings=False, torch_dtype="bfloat16")
    model = LlamaForCausalLM(cfg)
    for layer in model.model.layers:
        layer.mlp = PolyMLP(HIDDEN, INTER)
    model = randomize(model)
    save(model, path, dict(model_type="polyllama", hidden_act="polynorm"))
    return model


def moe(layers, path):
    with open(os.path.join(ROOT, "Configs", "PolyNorm_MoE", "config.json")) as f:
        c = json.load(f)
    cfg = OlmoeConfig(hidden_size=c["hidden_size"], intermediate_size=c["intermediate_size"], num_hidden_layers=layers,
                      num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
                      num_experts=c["num_experts"], num_experts_per_tok=c["num_experts_per_tok"],
                      norm_topk_prob=c["norm_topk_prob"], vocab_size=c["vocab_size"], max_position_embeddings=4096,
                      rms_norm_eps=c["rms_norm_eps"], tie_word_embeddings=False, hidden_act="silu",
                      attn_implementation="eager")
    model = OlmoeForCausalLM(cfg)
    for layer in model.model.layers:
        layer.mlp = PolyNormSparseMoeBlock(cfg)
    model = randomize(model)
    if not os.path.exists(os.path.join(path, "config.json")):
        # polycom reads the paper's layout (tools/bench/make_random_checkpoint.py); values do not matter.
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "bench", "make_random_checkpoint.py"),
                        os.path.join(ROOT, "Configs", "PolyNorm_MoE"), path, "--layers", str(layers)], check=True)
    return model


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_torch(model, prompts, batches, decode_tokens, repeats):
    """Prefill tok/s per prompt length, decode tok/s per batch (all sequences' tokens)."""
    vocab = model.config.vocab_size
    prefill, decode = {}, {}
    with torch.inference_mode():
        for T in prompts:
            ids = torch.randint(0, vocab, (1, T))
            prefill[T] = T / median_time(lambda: model(ids, use_cache=True), repeats)
        for B in batches:
            ids = torch.randint(0, vocab, (B, 16))

            def run():
                out = model(ids, use_cache=True)
                past, tok = out.past_key_values, ids[:, -1:]
                t0 = time.perf_counter()
                for _ in range(decode_tokens):
                    past = model(tok, past_key_values=past, use_cache=True).past_key_values
                return time.perf_counter() - t0
            decode[B] = B * decode_tokens / statistics.median([run() for _ in range(repeats)])
    return prefill, decode


def numpy_gemm(T, repeats):
    """GFLOP/s of numpy's bundled OpenBLAS over one dense layer's products at T tokens (x · Wᵀ)."""
    rng = np.random.default_rng(0)
    shapes = [(HIDDEN, HIDDEN)] * 4 + [(INTER, HIDDEN), (HIDDEN, INTER)]
    flops = seconds = 0.0
    for rows, k in shapes:
        x, w = rng.random((T, k), dtype=np.float32), rng.random((rows, k), dtype=np.float32)
        x @ w.T
        seconds += median_time(lambda: x @ w.T, repeats)
        flops += 2 * T * rows * k
    return flops / seconds / 1e9


def polycom(path, args, *flags):
    out = subprocess.run([args.polycom, "bench", "model", "--model", path, "--prompt-tokens", "128", "512",
                          "--decode-tokens", str(args.decode_tokens), "--batch", "1", "8", "--repeats", str(args.repeats),
                          "--scoring-docs", str(args.scoring_docs), "--json", *flags],
                         check=True, capture_output=True, text=True).stdout
    j = json.loads(out)
    j["prefill_at"] = {p["tokens"]: p for p in j["prefill"]}
    j["decode_at"] = {d["batch"]: d for d in j["decode"]}
    return j


def add_polycom_argument(ap):
    ap.add_argument("--polycom", default=os.path.join(ROOT, ".build", "release", "polycom"),
                    help="the polycom binary (default: this checkout's release build)")


def hf_scorer(model):
    """A function of a document count giving the docs/s of lm-eval's `hf` backend on polycom
    bench's document shape, same model, bf16 (None without lm-eval)."""
    try:
        from lm_eval.models.huggingface import HFLM
        from transformers import AutoTokenizer
    except ImportError:
        return None
    tokenizer = AutoTokenizer.from_pretrained(os.path.join(ROOT, "Models", "polynorm-demo"))
    lm = HFLM(pretrained=model, tokenizer=tokenizer, device="cpu", dtype=torch.bfloat16, batch_size=4)
    g = torch.Generator().manual_seed(1)

    def docs_per_s(docs):
        requests = []
        for d in range(docs):
            context = torch.randint(0, model.config.vocab_size, (CONTEXT,), generator=g).tolist()
            for e in range(ENDINGS):
                ending = torch.randint(0, model.config.vocab_size, (ENDING,), generator=g).tolist()
                requests.append(((f"doc {d}", f"ending {e}"), context, ending))
        t0 = time.perf_counter()
        lm._loglikelihood_tokens(requests, disable_tqdm=True)
        return docs / (time.perf_counter() - t0)
    return docs_per_s


def alternated_scoring(path, args, hf):
    """Per round: polycom --bf16-prefill's scoring and lm-eval hf's, on the same number of
    documents, back to back. This machine's speed swings from one minute to the next (memory
    bandwidth and, less, the cores' rate); a ratio of runs taken minutes apart carries that
    swing, rounds taken back to back mostly cancel it. Which one runs first alternates: of two
    runs back to back here the second was often the faster, whichever program it was.
    Returns the rounds' (polycom, lm-eval) docs/s."""
    def ours():
        out = subprocess.run([args.polycom, "bench", "model", "--model", path, "--prompt-tokens", "16",
                              "--decode-tokens", "1", "--batch", "1", "--repeats", "1", "--no-roofline",
                              "--scoring-docs", str(args.scoring_docs), "--json", "--bf16-prefill"],
                             check=True, capture_output=True, text=True).stdout
        return json.loads(out)["scoring_docs_per_s"]

    rounds = []
    for r in range(args.scoring_rounds):
        if r % 2 == 0:
            p = ours()
            rounds.append((p, hf(args.scoring_docs)))
        else:
            h = hf(args.scoring_docs)
            rounds.append((ours(), h))
    return rounds


def row(name, p128, p512, d1, d8):
    print(f"{name:32s} {p128:10.1f} {p512:10.1f} {d1:10.2f} {d8:10.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--moe-layers", type=int, default=4, help="0: no MoE rows")
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--scoring-docs", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scoring-rounds", type=int, default=3,
                    help="alternated polycom / lm-eval scoring rounds (--bf16-prefill; 0: none)")
    add_polycom_argument(ap)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count())
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)

    path = f"/tmp/polycom-bench-model-{args.layers}l"
    os.makedirs(path, exist_ok=True)
    model = dense(args.layers, path)
    gemm = numpy_gemm(512, args.repeats)
    ours, fast, q8 = polycom(path, args), polycom(path, args, "--bf16-prefill"), polycom(path, args, "--weights", "q8")
    read = ours["roofline"]["read_gb_per_s"]
    tb_prefill, tb_decode = time_torch(model, (128, 512), (1, 8), args.decode_tokens, args.repeats)
    hf = hf_scorer(model)
    scoring_hf = hf(args.scoring_docs) if hf else None
    rounds = alternated_scoring(path, args, hf) if hf else []
    tf_prefill, tf_decode = time_torch(model.float(), (128, 512), (1, 8), args.decode_tokens, args.repeats)
    del model

    print(f"limits: read {read:.1f} GB/s (polycom's probe, all cores); numpy f32 GEMM at the 512-token layer "
          f"shapes {gemm:.0f} GFLOP/s; polycom's BLAS kernels: {ours['blas']}")
    print(f"dense: PolyNorm_1B shapes, {args.layers} layers, {ours['weight_bytes'] / 1e9:.2f} GB bf16 read per "
          f"decode step (q8: {q8['weight_bytes'] / 1e9:.2f} GB); tok/s")
    print(f"{'':32s} {'prefill128':>10s} {'prefill512':>10s} {'decode b1':>10s} {'decode b8':>10s}")
    for name, j in (("polycom bf16 (f32 math)", ours), ("polycom --bf16-prefill", fast), ("polycom --weights q8", q8)):
        row(name, j["prefill_at"][128]["tokens_per_s"], j["prefill_at"][512]["tokens_per_s"],
            j["decode_at"][1]["tokens_per_s"], j["decode_at"][8]["tokens_per_s"])
    row("torch bf16", tb_prefill[128], tb_prefill[512], tb_decode[1], tb_decode[8])
    row("torch f32", tf_prefill[128], tf_prefill[512], tf_decode[1], tf_decode[8])

    def share(rate, bytes_):
        return rate * bytes_ / 1e9 / read
    b1, b8 = ours["decode_at"][1]["tokens_per_s"], ours["decode_at"][8]["tokens_per_s"]
    q1, q8b8 = q8["decode_at"][1]["tokens_per_s"], q8["decode_at"][8]["tokens_per_s"]
    p512 = ours["prefill_at"][512]
    checks = [
        ("bf16 decode b1, share of read bandwidth", share(b1, ours["weight_bytes"]), 0.90),
        ("default 512-token prefill / numpy f32 GEMM", p512["gflop_per_s"] / gemm, 1.0),
        ("default 512-token prefill / torch f32", p512["tokens_per_s"] / tf_prefill[512], 1.4),
        ("--bf16-prefill 512 / numpy f32 GEMM", fast["prefill_at"][512]["gflop_per_s"] / gemm, 1.6),
        ("bf16 decode b8 / b1", b8 / b1, 4.0),
        ("q8 decode b1, share of its roofline", share(q1, q8["weight_bytes"]), 0.85),
        ("q8 decode b8 / b1", q8b8 / q1, 4.0),
        ("bf16 decode b1 / torch bf16", b1 / tb_decode[1], None),
    ]
    if scoring_hf:
        checks.append(("scoring docs/s / lm-eval hf (bf16), f32 math", ours["scoring_docs_per_s"] / scoring_hf, 3.0))
        checks.append(("scoring docs/s / lm-eval hf (bf16), --bf16-prefill", fast["scoring_docs_per_s"] / scoring_hf, 3.0))
        print(f"scoring ({CONTEXT}-token context + {ENDINGS} x {ENDING}-token endings, {args.scoring_docs} docs): "
              f"polycom {ours['scoring_docs_per_s']:.3f} docs/s (f32 math), {fast['scoring_docs_per_s']:.3f} "
              f"(--bf16-prefill); lm-eval hf bf16 {scoring_hf:.3f} docs/s")
        if rounds:
            print("scoring, alternated rounds (polycom --bf16-prefill / lm-eval hf, docs/s): "
                  + "; ".join(f"{p:.2f} / {h:.2f} = {p / h:.2f}x" for p, h in rounds))
            checks.append(("scoring, alternated rounds: median ratio", statistics.median(p / h for p, h in rounds), 3.0))
    else:
        print("scoring vs lm-eval hf: skipped (lm_eval is not importable here)")

    if args.moe_layers:
        mpath = f"/tmp/polycom-bench-moe-{args.moe_layers}l"
        os.makedirs(mpath, exist_ok=True)
        mmodel = moe(args.moe_layers, mpath)
        mj = polycom(mpath, args, "--no-roofline")
        _, mt_decode = time_torch(mmodel, (), (1, 8), args.decode_tokens, args.repeats)
        del mmodel
        m1 = mj["decode_at"][1]["tokens_per_s"]
        print(f"MoE: paper shape, {args.moe_layers} layers, {mj['weight_bytes'] / 1e9:.2f} GB active bf16 per token; "
              f"polycom decode b1 {m1:.2f}, b8 {mj['decode_at'][8]['tokens_per_s']:.2f}, prefill 128 "
              f"{mj['prefill_at'][128]['tokens_per_s']:.1f} tok/s; torch bf16 decode b1 {mt_decode[1]:.2f}, "
              f"b8 {mt_decode[8]:.2f}")
        checks.append(("MoE decode b1, share of active-bytes roofline", share(m1, mj["weight_bytes"]), 0.70))

    print(f"{'acceptance':52s} {'measured':>9s} {'target':>7s}")
    for name, value, target in checks:
        verdict = "" if target is None else ("  met" if value >= target else "  not met")
        print(f"{name:52s} {value:9.2f} {'' if target is None else f'{target:7.2f}'}{verdict}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
