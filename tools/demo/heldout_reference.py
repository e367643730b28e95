#!/usr/bin/env python3
"""Held-out loss of the demo model computed by transformers (the reference DemoModelTests
checks polycom against), on the saved BF16 weights, with the trainer's data layout: BOS +
text + EOS per line, concatenated, cut into --seq-len blocks (remainder dropped), each block's
last position without a target.

    python3 tools/demo/heldout_reference.py --model Models/polynorm-kjv \
        --data Tests/Fixtures/demo/heldout.jsonl --out Tests/Fixtures/demo/heldout.json
    python3 tools/demo/heldout_reference.py --model Models/polynorm-kjv --data .build/demo/corpus/val.jsonl
"""
import argparse, json, math, os, sys

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from make_trained_checkpoint_reference import load_folder  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--seq-len", type=int, default=256)
    ap.add_argument("--out")
    a = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(a.model, "tokenizer.json"))
    stream = []
    for line in open(a.data):
        if line.strip():
            stream += tok.encode(json.loads(line)["text"], add_special_tokens=True).ids + [2]
    T = a.seq_len
    n = len(stream) // T
    blocks = torch.tensor(stream[:n * T]).view(n, T)
    model = load_folder(a.model, os.path.join(a.model, "model.safetensors"))
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, n, 8):
            b = blocks[i:i + 8]
            logits = model(b).logits.double()
            total += F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1), reduction="sum").item()
            count += b[:, 1:].numel()
    loss = total / count
    result = {"data": os.path.basename(a.data), "seq_len": T, "blocks": n, "targets": count, "loss": loss, "perplexity": math.exp(loss)}
    print(json.dumps(result))
    if a.out:
        json.dump(result, open(a.out, "w"), indent=2)
        open(a.out, "a").write("\n")


if __name__ == "__main__":
    main()
