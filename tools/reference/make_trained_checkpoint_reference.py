#!/usr/bin/env python3
"""Reference for `polycom train` end to end: run it on the shipped demo model, replay the
same recipe in PyTorch from the same JSONL (tokenized with HF tokenizers), check that
polycom's trained weights and losses agree with PyTorch's, and store transformers' logits
on the checkpoint polycom wrote.

    swift build && python3 tools/reference/make_trained_checkpoint_reference.py [path/to/polycom]

Output: Tests/Fixtures/reference/trained-polynorm-demo.safetensors
    tokens  I64 [3]          token ids scored
    logits  F32 [3, 32000]   transformers on polycom's trained model.safetensors (f32)
    losses  F64 [3]          PyTorch's loss of each of the 3 optimizer steps
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer
from transformers import LlamaConfig

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, full_logits, write_reference
from make_dense_fixtures import build_model

MODEL = os.path.join(REPO, "Models", "polynorm-demo")
DATA = os.path.join(REPO, "Tests", "Fixtures", "training", "train.jsonl")
# Keep in sync with TrainCommandTests.trainedArguments.
ARGS = ["--seq-len", "32", "--batch-size", "2", "--grad-accum", "2", "--steps", "3", "--lr", "2e-3",
        "--warmup-steps", "1", "--no-shuffle", "--val-fraction", "0.2", "--save-dtype", "f32", "--threads", "1"]
RECIPE = dict(T=32, B=2, G=2, steps=3, lr=2e-3, warmup=1, min_ratio=0.1, wd=0.1, betas=(0.9, 0.95), eps=1e-8, clip=1.0)
TOKENS = [1, 450, 7483]


def load_folder(folder, weights_file):
    with open(os.path.join(folder, "config.json")) as f:
        d = json.load(f)
    m = dict(model_type=d["model_type"], hidden=d["hidden_size"], inter=d["intermediate_size"], act=d["hidden_act"])
    d["model_type"], d["hidden_act"] = "llama", "silu"
    for k in ("dtype", "torch_dtype", "architectures", "transformers_version"):
        d.pop(k, None)
    model = build_model(m, LlamaConfig(**d))
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in load_file(weights_file).items()}, strict=False)
    assert not unexpected and missing == ["lm_head.weight"], (missing, unexpected)
    return model


def blocks():
    """The recipe's data: BOS + text + EOS per line, concatenated, cut into T-token blocks."""
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    stream = []
    with open(DATA) as f:
        for line in f:
            if line.strip():
                ids = tok.encode(json.loads(line)["text"], add_special_tokens=True).ids
                if ids[-1] != 2:
                    ids.append(2)
                stream += ids
    T = RECIPE["T"]
    n = len(stream) // T
    b = torch.tensor(stream[:n * T], dtype=torch.int64).view(n, T)
    held = math.ceil(0.2 * n)
    return b[:n - held]


def replay():
    r = RECIPE
    model = load_folder(MODEL, os.path.join(MODEL, "model.safetensors"))
    model.train()
    train = blocks()
    targets = torch.full_like(train, -100)
    targets[:, :-1] = train[:, 1:]
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": r["wd"]},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=r["lr"], betas=r["betas"], eps=r["eps"])
    losses = []
    for s in range(r["steps"]):
        micro = [[((s * r["G"] + g) * r["B"] + j) % len(train) for j in range(r["B"])] for g in range(r["G"])]
        n = sum(int((targets[i] != -100).sum()) for i in micro)
        total = 0.0
        for i in micro:
            logits = model(input_ids=train[i], use_cache=False).logits
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets[i].reshape(-1), ignore_index=-100, reduction="sum")
            (ce / n).backward()
            total += ce.item()
        torch.nn.utils.clip_grad_norm_(params, r["clip"])
        lr = r["lr"] * (s + 1) / r["warmup"] if s < r["warmup"] else \
            r["lr"] * r["min_ratio"] + r["lr"] * (1 - r["min_ratio"]) * 0.5 * (1 + math.cos(math.pi * (s - r["warmup"]) / max(1, r["steps"] - r["warmup"])))
        for group in opt.param_groups:
            group["lr"] = lr
        opt.step()
        opt.zero_grad()
        losses.append(total / n)
    return model, losses


def main():
    polycom = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "debug", "polycom")
    work = tempfile.mkdtemp()
    out = os.path.join(work, "out")
    subprocess.run([polycom, "train", "--model", MODEL, "--data", DATA, "--out", out] + ARGS, check=True)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        ours = [json.loads(line)["loss"] for line in f]
    torch_model, losses = replay()
    print("losses polycom", ours, "torch", losses)
    assert all(abs(a - b) <= 1e-4 * b for a, b in zip(ours, losses)), "polycom's losses differ from PyTorch's"
    trained = load_folder(out, os.path.join(out, "model.safetensors"))
    worst = max((a - b).abs().max().item() for a, b in zip(trained.state_dict().values(), torch_model.state_dict().values()))
    print("max |W_polycom - W_torch| after 3 steps", worst)
    assert worst < 1e-4, worst
    tokens = torch.tensor(TOKENS, dtype=torch.int64)
    logits = full_logits(trained.eval(), tokens)
    before = full_logits(load_folder(MODEL, os.path.join(MODEL, "model.safetensors")).eval(), tokens)
    print("training moved the logits by up to", (logits - before).abs().max().item())
    assert (logits - before).abs().max() > 1e-2
    write_reference({"tokens": tokens, "logits": logits, "losses": torch.tensor(losses, dtype=torch.float64)},
                    "trained-polynorm-demo")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
