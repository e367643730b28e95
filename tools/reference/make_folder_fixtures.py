#!/usr/bin/env python3
"""Checkpoint folders as other writers lay them out, reusing the weights of existing fixtures
(model.safetensors is a relative symlink into Tests/Fixtures/models/), and what transformers
does with them. Two parts, run separately:

  PYTHONPATH=/tmp/tf5 python3 tools/reference/make_folder_fixtures.py rope
      needs transformers 5 (`pip install --target /tmp/tf5 "transformers==5.*"`; tested with
      5.24.0 and torch 2.15), which writes the rope settings into `rope_parameters` and the
      dtype as `dtype` (no rope_scaling, rope_theta or torch_dtype):
      folders/llama3-rope-parameters/   config.json saved by transformers 5 from
                                        models/llama3-rope-scaling (a rope_scaling llama3 config), weights of
                                        that fixture; transformers 5 reproduces reference/llama3-rope-scaling
                                        from this folder (checked here), so the Swift test reuses those logits
      folders/rope-yarn-parameters/     config.json only: the same model with rope_parameters yarn
      folders/rope-dynamic-parameters/  config.json only: rope_parameters dynamic

  python3 tools/reference/make_folder_fixtures.py generation
      folders/llama-generation-eos/     models/llama-swiglu-gqa plus a generation_config.json (written by
                                        transformers' GenerationConfig) whose eos_token_id [2, 201] adds a token
                                        that greedy decoding of the fixture's greedy prompt emits as its 6th token
      reference/llama-generation-eos.json   prompt, transformers `generate(do_sample=False, max_new_tokens=12)`
                                        output (it stops at 201), and the 12 tokens without the generation config
"""
import json
import os
import shutil
import sys
import tempfile

import torch
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
FOLDERS = os.path.join(FIX, "folders")
torch.set_num_threads(1)


def fresh(name, weights_from=None):
    d = os.path.join(FOLDERS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    if weights_from:
        os.symlink(f"../../models/{weights_from}/model.safetensors", os.path.join(d, "model.safetensors"))
    return d


def rope():
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
    assert int(transformers.__version__.split(".")[0]) >= 5, "run with transformers 5 (see the docstring)"
    src = os.path.join(FIX, "models", "llama3-rope-scaling")
    model = LlamaForCausalLM.from_pretrained(src, attn_implementation="eager").eval()
    d = fresh("llama3-rope-parameters", "llama3-rope-scaling")
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        shutil.copyfile(os.path.join(tmp, "config.json"), os.path.join(d, "config.json"))
    cfg = json.load(open(os.path.join(d, "config.json")))
    assert "rope_scaling" not in cfg and "rope_theta" not in cfg and "torch_dtype" not in cfg, cfg
    assert cfg["rope_parameters"]["rope_type"] == "llama3" and cfg["dtype"] == "float32", cfg

    reloaded = LlamaForCausalLM.from_pretrained(d, attn_implementation="eager").eval()
    ref = load_file(os.path.join(FIX, "reference", "llama3-rope-scaling.safetensors"))
    with torch.no_grad():
        for L in (1, 7, 40):
            logits = reloaded(ref[f"tokens_{L}"][None]).logits[0]
            err = (logits - ref[f"logits_{L}"]).abs().max().item()
            print(f"llama3-rope-parameters L={L}: max |dlogits| vs reference {err:.2e}")
            assert err < 1e-5

    for name, params in [("rope-yarn-parameters", {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}),
                         ("rope-dynamic-parameters", {"rope_type": "dynamic", "factor": 2.0})]:
        c = LlamaConfig.from_pretrained(d)
        c.rope_parameters = {"rope_theta": 500000.0, **params}
        out = fresh(name)
        c.save_pretrained(out)
        saved = json.load(open(os.path.join(out, "config.json")))
        assert saved["rope_parameters"]["rope_type"] == params["rope_type"] and "rope_scaling" not in saved, saved


def generation():
    import transformers
    from transformers import GenerationConfig, LlamaForCausalLM
    src = os.path.join(FIX, "models", "llama-swiglu-gqa")
    d = fresh("llama-generation-eos", "llama-swiglu-gqa")
    shutil.copyfile(os.path.join(src, "config.json"), os.path.join(d, "config.json"))
    ref = load_file(os.path.join(FIX, "reference", "llama-swiglu-gqa.safetensors"))
    prompt, greedy = ref["greedy_prompt"], ref["greedy_tokens"].tolist()
    extra = greedy[5]
    assert extra not in greedy[:5] and extra != 2
    GenerationConfig(bos_token_id=1, eos_token_id=[2, extra], pad_token_id=0).save_pretrained(d)

    model = LlamaForCausalLM.from_pretrained(d, attn_implementation="eager").eval()
    assert model.generation_config.eos_token_id == [2, extra], model.generation_config
    with torch.no_grad():
        out = model.generate(prompt[None], do_sample=False, max_new_tokens=12)[0, prompt.numel():].tolist()
        plain = model.generate(prompt[None], do_sample=False, max_new_tokens=12, eos_token_id=2)[0, prompt.numel():].tolist()
    assert out == greedy[:6] and plain == greedy, (out, plain, greedy)
    with open(os.path.join(FIX, "reference", "llama-generation-eos.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "prompt": prompt.tolist(), "eos_token_id": [2, extra],
                   "generated": out, "generated_without_generation_config": plain}, f, indent=1)
        f.write("\n")
    print(f"llama-generation-eos: transformers generate stops after {len(out)} tokens: {out}")


if __name__ == "__main__":
    parts = sys.argv[1:] or ["rope", "generation"]
    for part in parts:
        {"rope": rope, "generation": generation}[part]()
