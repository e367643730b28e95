"""Shared helpers for the polycom reference-fixture scripts.

Everything here runs on CPU in float32 with one thread and fixed seeds, so the
outputs are bit-for-bit reproducible on a given torch build.
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file, load_file

torch.set_num_threads(1)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_DIR = os.path.join(REPO, "Tests", "Fixtures", "models")
REF_DIR = os.path.join(REPO, "Tests", "Fixtures", "reference")

SEQ_LENS = (1, 7, 40)
GREEDY_PROMPT_LEN = 5
GREEDY_NEW_TOKENS = 12
GREEDY_MIN_GAP = 1e-3


# --------------------------------------------------------------------------
# PolyCom activations (the class in the PolyCom paper's README)
# --------------------------------------------------------------------------
class PolyNorm(nn.Module):
    """w0*norm(x^3) + w1*norm(x^2) + w2*norm(x) + b, norm over the last dim."""

    def __init__(self, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3) / 3)
        self.bias = nn.Parameter(torch.zeros(1))
        self.eps = eps

    def _norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)

    def forward(self, x):
        return (self.weight[0] * self._norm(x ** 3)
                + self.weight[1] * self._norm(x ** 2)
                + self.weight[2] * self._norm(x)
                + self.bias)


class PolyReLU(nn.Module):
    """w0*relu(x)^3 + w1*relu(x)^2 + w2*relu(x) + b."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3) / 3)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        r = torch.relu(x)
        return (self.weight[0] * r ** 3
                + self.weight[1] * r ** 2
                + self.weight[2] * r
                + self.bias)


def make_act(kind):
    if kind == "polynorm":
        return PolyNorm()
    if kind == "polyrelu":
        return PolyReLU()
    if kind == "relu":
        return nn.ReLU()
    if kind == "gelu":  # HF "gelu": exact erf GELU
        return nn.GELU()
    raise ValueError(kind)


def init_poly_act(act, gen):
    """Non-trivial coefficients: around [0.6, -0.4, 0.9], bias in [0.05, 0.2]."""
    with torch.no_grad():
        base = torch.tensor([0.6, -0.4, 0.9])
        act.weight.copy_(base + 0.15 * torch.randn(3, generator=gen))
        act.bias.copy_(0.05 + 0.15 * torch.rand(1, generator=gen))


# --------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------
def init_weights(model, gen, linear_std=0.1, embed_std=0.5, head_std=0.12):
    """Random weights large enough to give non-flat logits.

    Linear layers ~ N(0, linear_std); embeddings ~ N(0, embed_std); lm_head ~
    N(0, head_std); every RMSNorm weight ~ 1 + U(-0.25, 0.25) so a runtime that
    forgets the norm scale fails the comparison.  PolyCom activations are
    initialised by the caller (init_poly_act).
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("act_fn.weight") or name.endswith("act_fn.bias"):
                continue
            if "embed_tokens" in name:
                p.copy_(embed_std * torch.randn(p.shape, generator=gen))
            elif name.startswith("lm_head"):
                p.copy_(head_std * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:  # RMSNorm scales (input/post-attn/final/q_norm/k_norm)
                p.copy_(1.0 + 0.5 * (torch.rand(p.shape, generator=gen) - 0.5))
            else:
                p.copy_(linear_std * torch.randn(p.shape, generator=gen))


def round_params_to_bf16(model):
    """Round every parameter to bf16 and back to f32 (in place)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


# --------------------------------------------------------------------------
# Forward passes and greedy decoding
# --------------------------------------------------------------------------
@torch.no_grad()
def full_logits(model, tokens):
    """Logits [L, V] (f32) of one full forward pass over `tokens` [L]."""
    out = model(input_ids=tokens.view(1, -1), use_cache=False)
    return out.logits[0].float()


def top2_gap(logits_row):
    v = torch.topk(logits_row, 2).values
    return float(v[0] - v[1])


@torch.no_grad()
def greedy(model, prompt, n_new, eos_id=None):
    """Greedy continuation by argmax over full forward passes (no KV cache), stopping
    after `eos_id` when given. Returns (new tokens [<= n_new], min top1-top2 gap over all steps)."""
    seq = prompt.clone()
    min_gap = float("inf")
    new = []
    for _ in range(n_new):
        row = full_logits(model, seq)[-1]
        min_gap = min(min_gap, top2_gap(row))
        nxt = int(torch.argmax(row))
        new.append(nxt)
        seq = torch.cat([seq, torch.tensor([nxt], dtype=torch.int64)])
        if nxt == eos_id:
            break
    return torch.tensor(new, dtype=torch.int64), min_gap


@torch.no_grad()
def pick_greedy_prompt(model, vocab, seed_base, eos_ids=(), extra_ok_fn=None, n_seeds=48):
    """Try n_seeds random prompts and pick one whose greedy continuation is
    robust and informative: the min top-1/top-2 logit gap over all greedy steps
    must exceed GREEDY_MIN_GAP (we prefer > 10x that), and among those we keep
    the continuation with the most distinct tokens (a continuation that repeats
    one token would hide KV-cache/position bugs), then the largest gap.
    Continuations containing an EOS id are rejected (a runtime would stop there).
    extra_ok_fn(full_sequence) may veto a candidate (e.g. MoE routing near-ties)."""
    best, best_key = None, None
    for s in range(n_seeds):
        g = torch.Generator().manual_seed(seed_base + s)
        prompt = torch.randint(0, vocab, (GREEDY_PROMPT_LEN,), generator=g, dtype=torch.int64)
        toks, gap = greedy(model, prompt, GREEDY_NEW_TOKENS)
        if gap <= GREEDY_MIN_GAP or any(t in eos_ids for t in toks.tolist()):
            continue
        if extra_ok_fn is not None and not extra_ok_fn(torch.cat([prompt, toks])):
            continue
        key = (gap > 10 * GREEDY_MIN_GAP, len(set(toks.tolist())), gap)
        if best_key is None or key > best_key:
            best, best_key = (prompt, toks, gap), key
    assert best is not None, f"no prompt with gap > {GREEDY_MIN_GAP}"
    return best


def check_generate_matches(model, prompt, toks):
    """Cross-check our argmax loop against transformers' generate (KV cache)."""
    out = model.generate(prompt.view(1, -1), attention_mask=torch.ones(1, prompt.numel(), dtype=torch.int64),
                         do_sample=False, max_new_tokens=toks.numel(), min_new_tokens=toks.numel(),
                         pad_token_id=0, eos_token_id=None)
    gen = out[0, prompt.numel():]
    assert torch.equal(gen, toks), f"generate {gen.tolist()} != loop {toks.tolist()}"


def random_tokens(vocab, L, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (L,), generator=g, dtype=torch.int64)


# --------------------------------------------------------------------------
# Checkpoint writing (HF layout)
# --------------------------------------------------------------------------
REQUIRED_CONFIG_FIELDS = (
    "architectures", "model_type", "hidden_act", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size", "rms_norm_eps", "rope_theta",
    "rope_scaling", "max_position_embeddings", "tie_word_embeddings", "bos_token_id", "eos_token_id",
    "pad_token_id", "attention_bias", "mlp_bias", "num_experts", "num_experts_per_tok", "norm_topk_prob",
    "clip_qkv", "use_cache", "transformers_version",
)


def write_config(cfg, out_dir, overrides, dtype_name):
    # Same field set save_pretrained writes (diff against defaults), plus the
    # fields the polycom loader requires, always spelled out.
    full = cfg.to_dict()
    d = cfg.to_diff_dict()
    for k in REQUIRED_CONFIG_FIELDS:
        if k in full and k not in d:
            d[k] = full[k]
    d.update(overrides)
    d["dtype"] = dtype_name
    d["torch_dtype"] = dtype_name  # pre-4.56 name of the same field
    d.pop("_name_or_path", None)
    d = {k: d[k] for k in sorted(d)}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
    return d


def tensor_nbytes(t):
    return t.numel() * t.element_size()


def write_weights(tensors, out_dir, n_shards=1):
    """tensors: ordered dict name -> tensor (already in the storage dtype).
    n_shards == 1: model.safetensors; otherwise HF-style shards + index."""
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            os.remove(os.path.join(out_dir, f))
    tensors = {k: v.contiguous().clone() for k, v in tensors.items()}
    if n_shards == 1:
        save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
        return
    names = list(tensors)
    total = sum(tensor_nbytes(tensors[n]) for n in names)
    target = total / n_shards
    shards = [[] for _ in range(n_shards)]
    acc, si = 0, 0
    for n in names:  # contiguous split by size, in name order
        if acc >= target * (si + 1) and si < n_shards - 1:
            si += 1
        shards[si].append(n)
        acc += tensor_nbytes(tensors[n])
    assert all(shards), "empty shard"
    weight_map = {}
    for i, shard in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file({n: tensors[n] for n in shard}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        for n in shard:
            weight_map[n] = fname
    index = {"metadata": {"total_size": total},
             "weight_map": {k: weight_map[k] for k in sorted(weight_map)}}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def load_weights(out_dir):
    """Load every tensor of a checkpoint folder (single file or shards)."""
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    if os.path.exists(idx):
        with open(idx) as f:
            index = json.load(f)
        files = sorted(set(index["weight_map"].values()))
        out = {}
        for fn in files:
            part = load_file(os.path.join(out_dir, fn))
            for k in part:
                assert index["weight_map"][k] == fn, (k, fn)
                assert k not in out
            out.update(part)
        assert set(out) == set(index["weight_map"]), "index/shard mismatch"
        total = sum(tensor_nbytes(t) for t in out.values())
        assert total == index["metadata"]["total_size"], (total, index["metadata"]["total_size"])
        return out
    return load_file(os.path.join(out_dir, "model.safetensors"))


def write_reference(ref, name):
    os.makedirs(REF_DIR, exist_ok=True)
    ref = {k: v.contiguous().clone() for k, v in ref.items()}
    save_file(ref, os.path.join(REF_DIR, f"{name}.safetensors"), metadata={"format": "pt"})


def dir_size(path):
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
