#!/usr/bin/env python3
"""Write the LoRA fixtures with Hugging Face PEFT on the dense training fixtures
(transformers' LlamaForCausalLM with the PolyCom MLP patch, make_training_fixtures.py):

    python3 tools/reference/make_lora_fixtures.py [CASE ...]

For each case: a PEFT LoRA adapter (init_lora_weights=True: Kaiming-uniform A, zero B) is
trained PRE_STEPS steps in PyTorch and saved with save_pretrained to
Tests/Fixtures/adapters/<case>/ (PEFT's own adapter_config.json + adapter_model.safetensors).
Then, from that saved adapter:
- per-tensor gradients of the adapter (PEFT names, `.default` dropped as PEFT saves them)
  on a fixed batch: grad.<name>;
- ten optimizer steps of polycom's recipe continuing it (fresh AdamW, the schedule from
  step 0, weight decay on A and B): steps_loss / steps_lr / steps_grad_norm;
- the trained A and B after those ten steps: trained.<name>.
Output: Tests/Fixtures/reference/lora-<case>.safetensors.
"""
import os
import shutil
import sys

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, write_reference
from make_training_fixtures import load_model, clm_targets, summed_ce, recipe_steps, RECIPE_KEYS

ADAPTERS_DIR = os.path.join(REPO, "Tests", "Fixtures", "adapters")
T = 16
GRAD_B = 2
STEP_BLOCKS = 6
PRE_STEPS = 3
CASES = {
    # PEFT's default targets for Llama; clipping active, accumulation.
    "polynorm-qv": dict(model="polynorm-f32", r=4, alpha=8, targets=["q_proj", "v_proj"],
                        recipe=dict(lr=1e-2, warmup=3, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                                    clip=1.0, batch=2, accum=2)),
    # Every linear of a gated GQA model.
    "swiglu-all": dict(model="llama-swiglu-gqa", r=3, alpha=12,
                       targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                       recipe=dict(lr=5e-3, warmup=2, steps=10, min_ratio=0.0, wd=0.1, beta1=0.9, beta2=0.999, eps=1e-6,
                                   clip=1e6, batch=3, accum=1)),
    # A bf16 checkpoint: load_model upcasts its weights to f32 exactly, as polycom's widening
    # of the bf16 base it keeps frozen; every linear of a plain PolyNorm MLP.
    "polynorm-bf16-all": dict(model="polynorm-bf16-sharded", r=4, alpha=4,
                              targets=["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj"],
                              recipe=dict(lr=5e-3, warmup=2, steps=10, min_ratio=0.1, wd=0.1, beta1=0.9, beta2=0.95, eps=1e-8,
                                          clip=1.0, batch=2, accum=1)),
}


def peft_name(n):
    return n.replace(".lora_A.default.", ".lora_A.").replace(".lora_B.default.", ".lora_B.")


def lora_params(model):
    return [(peft_name(n), p) for n, p in model.named_parameters() if p.requires_grad]


def steps(model, blocks, r, n_steps):
    return recipe_steps(model, [p for _, p in lora_params(model)], blocks, r, n_steps)


def make(case, spec, seed):
    r = spec["recipe"]
    torch.manual_seed(seed)
    base, m = load_model(spec["model"])
    cfg = LoraConfig(r=spec["r"], lora_alpha=spec["alpha"], target_modules=spec["targets"], lora_dropout=0.0,
                     bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.train()
    g = torch.Generator().manual_seed(seed)
    pre = torch.randint(0, m["vocab"], (STEP_BLOCKS, T), generator=g, dtype=torch.int64)
    steps(model, pre, dict(r, steps=PRE_STEPS), PRE_STEPS)
    out_dir = os.path.join(ADAPTERS_DIR, case)
    shutil.rmtree(out_dir, ignore_errors=True)
    model.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, "README.md"))  # the model card PEFT writes: not needed
    saved = load_file(os.path.join(out_dir, "adapter_model.safetensors"))
    assert set(saved) == {n for n, _ in lora_params(model)}, (sorted(saved)[:3], [n for n, _ in lora_params(model)][:3])

    # Gradients of the saved adapter on a fixed batch.
    tokens = torch.randint(0, m["vocab"], (GRAD_B, T), generator=g, dtype=torch.int64)
    targets = clm_targets(tokens)
    targets[1, :5] = -100
    model.zero_grad()
    ce = summed_ce(model, tokens, targets)
    n = int((targets != -100).sum())
    (ce / n).backward()
    ref = {"grad_tokens": tokens, "grad_targets": targets,
           "grad_loss": torch.tensor([ce.item() / n], dtype=torch.float64)}
    for name, p in lora_params(model):
        ref["grad." + name] = p.grad.detach().clone()
    model.zero_grad()

    # Ten steps continuing the saved adapter.
    blocks = torch.randint(0, m["vocab"], (STEP_BLOCKS, T), generator=g, dtype=torch.int64)
    losses, lrs, norms = steps(model, blocks, r, r["steps"])
    f64 = lambda xs: torch.tensor(xs, dtype=torch.float64)
    ref.update({"steps_blocks": blocks, "steps_loss": f64(losses), "steps_lr": f64(lrs), "steps_grad_norm": f64(norms),
                "steps_recipe": f64([float(r[k]) for k in RECIPE_KEYS])})
    for name, p in lora_params(model):
        ref["trained." + name] = p.detach().clone()
    write_reference(ref, "lora-" + case)
    print(f"{case}: {len(saved)} adapter tensors; grad loss {ref['grad_loss'].item():.5f}; "
          f"losses {[round(x, 4) for x in losses]}; clipped at {sum(x > r['clip'] for x in norms)} of {len(norms)} steps")


def main():
    """All cases, or those named on the command line (each keeps its seed)."""
    for i, (case, spec) in enumerate(CASES.items()):
        if len(sys.argv) == 1 or case in sys.argv[1:]:
            make(case, spec, 9700 + 10 * i)


if __name__ == "__main__":
    main()
