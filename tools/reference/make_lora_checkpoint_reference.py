#!/usr/bin/env python3
"""Reference for `polycom train --lora-*` end to end: run it on the shipped demo model,
load the adapter it wrote with PEFT (`PeftModel.from_pretrained` on the demo base), check
that every adapter tensor loaded (B trained away from zero) and that PEFT's logits equal
transformers' logits on the merged model polycom wrote, and store PEFT's logits.

    swift build && python3 tools/reference/make_lora_checkpoint_reference.py [path/to/polycom]

Output: Tests/Fixtures/reference/lora-trained-polynorm-demo.safetensors
    tokens  I64 [3]          token ids scored
    logits  F32 [3, 32000]   PEFT (demo base + polycom's adapter) on them
and Tests/Fixtures/adapters/polynorm-demo-trained/: the adapter polycom wrote (what PEFT
loaded), for `polycom serve --lora` tests.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from peft import PeftModel
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, full_logits, write_reference
from make_trained_checkpoint_reference import MODEL, DATA, TOKENS, load_folder

# Keep in sync with TrainCommandTests.loraArguments.
ARGS = ["--seq-len", "32", "--batch-size", "2", "--steps", "3", "--lr", "1e-2", "--no-shuffle", "--val-fraction", "0.2",
        "--threads", "1", "--lora-rank", "4", "--lora-alpha", "16",
        "--lora-targets", "q_proj,k_proj,v_proj,o_proj,up_proj,down_proj", "--save-dtype", "f32"]


def main():
    polycom = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "debug", "polycom")
    out = os.path.join(tempfile.mkdtemp(), "run")
    subprocess.run([polycom, "train", "--model", MODEL, "--data", DATA, "--out", out] + ARGS, check=True)
    adapter = os.path.join(out, "adapter")
    files = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    base = load_folder(MODEL, os.path.join(MODEL, "model.safetensors"))
    peft = PeftModel.from_pretrained(base, adapter)
    peft.eval()
    loaded = {n.replace(".default", ""): p for n, p in peft.named_parameters() if "lora_" in n}
    assert set(loaded) == set(files), (sorted(set(loaded) ^ set(files)))[:4]
    for n, t in files.items():
        assert torch.equal(loaded[n].detach(), t), n
    assert any(n.endswith("lora_B.weight") and t.abs().max() > 0 for n, t in files.items()), "B never trained"
    tokens = torch.tensor(TOKENS)
    logits = full_logits(peft, tokens)
    merged = load_folder(out, os.path.join(out, "model.safetensors"))
    diff = (full_logits(merged, tokens) - logits).abs().max().item()
    print(f"{len(files)} adapter tensors loaded by PEFT; max |PEFT - merged| logits {diff:.2e}")
    assert diff <= 1e-4
    base_diff = (full_logits(load_folder(MODEL, os.path.join(MODEL, "model.safetensors")), tokens) - logits).abs().max().item()
    print(f"max |PEFT - base| logits {base_diff:.3f} (the adapter changes the model)")
    assert base_diff > 1e-2
    write_reference({"tokens": tokens, "logits": logits}, "lora-trained-polynorm-demo")
    kept = os.path.join(REPO, "Tests", "Fixtures", "adapters", "polynorm-demo-trained")
    shutil.rmtree(kept, ignore_errors=True)
    shutil.copytree(adapter, kept)


if __name__ == "__main__":
    main()
