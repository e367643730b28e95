#!/usr/bin/env python3
"""Tokenizer folders with only a SentencePiece `tokenizer.model` (no tokenizer.json), as most
original Llama releases ship, and what transformers makes of them.

Input: `mistral_common/data/tokenizer.model.v1` from the PyPI wheel mistral_common-1.13.1 (the
same file llama/tokenizer.json was converted from; see NOTICE.md). Once copied into
Tests/Fixtures/tokenizers/llama-spm/ the script reruns without the wheel.

Outputs (Tests/Fixtures/tokenizers/):
  llama-spm/                       tokenizer.model + what `LlamaTokenizer(vocab_file).save_pretrained`
                                   writes: tokenizer_config.json (legacy, add_prefix_space, and
                                   "model_max_length": int(1e30), transformers' "no limit") and
                                   special_tokens_map.json
  llama-spm-nonlegacy/             tokenizer.model (symlink) + {"tokenizer_class": "LlamaTokenizer", "legacy": false}
  llama-spm-no-prefix/             tokenizer.model (symlink) + {"add_prefix_space": false} (no class: loaded as
                                   LlamaTokenizerFast, what AutoTokenizer picks for model_type "llama")
  llama-spm-nonlegacy-no-prefix/   tokenizer.model (symlink) + legacy false, add_prefix_space false, add_eos_token true
  expected-spm-folders.jsonl       per folder: one row with the special tokens, then one row per hard case of
                                   corpus.jsonl: transformers' ids with and without special tokens and decodes

Every folder is loaded with transformers' `LlamaTokenizerFast.from_pretrained(folder)`, which runs
`convert_slow_tokenizer.LlamaConverter` on tokenizer.model. The script also checks that the
converted BPE model (vocab and merges) is identical to llama/tokenizer.json's.

Usage: python3 tools/reference/make_sentencepiece_fixtures.py [--model-file .../tokenizer.model.v1]
"""
import argparse
import json
import os
import shutil
import warnings

from transformers import LlamaTokenizer, LlamaTokenizerFast

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
HARD_CASES = 203  # corpus.jsonl starts with make_tokenizer_fixtures.HARD_CASES (203 texts)

FOLDERS = {
    "llama-spm-nonlegacy": {"tokenizer_class": "LlamaTokenizer", "legacy": False},
    "llama-spm-no-prefix": {"add_prefix_space": False},
    "llama-spm-nonlegacy-no-prefix": {"tokenizer_class": "LlamaTokenizerFast", "legacy": False,
                                      "add_prefix_space": False, "add_eos_token": True},
}


def write_folders(model_file):
    base = os.path.join(OUT, "llama-spm")
    model = os.path.join(base, "tokenizer.model")
    if model_file:
        os.makedirs(base, exist_ok=True)
        if os.path.abspath(model_file) != os.path.abspath(model):
            shutil.copyfile(model_file, model)
    assert os.path.exists(model), "pass --model-file (tokenizer.model.v1 from mistral_common-1.13.1)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LlamaTokenizer(vocab_file=model).save_pretrained(base)
    for name, config in FOLDERS.items():
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        os.symlink("../llama-spm/tokenizer.model", os.path.join(d, "tokenizer.model"))
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=1)
            f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-file")
    args = ap.parse_args()
    write_folders(args.model_file)

    with open(os.path.join(OUT, "corpus.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f][:HARD_CASES]
    with open(os.path.join(OUT, "llama", "tokenizer.json"), encoding="utf-8") as f:
        converted_before = json.load(f)["model"]

    rows = []
    for name in ["llama-spm"] + list(FOLDERS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = LlamaTokenizerFast.from_pretrained(os.path.join(OUT, name))
        assert not os.path.exists(os.path.join(OUT, name, "tokenizer.json"))
        doc = json.loads(tok.backend_tokenizer.to_str())
        assert doc["model"] == converted_before, name
        length = tok.model_max_length
        rows.append({"dir": name, "bos_token": tok.bos_token, "eos_token": tok.eos_token, "unk_token": tok.unk_token,
                     "pad_token": tok.pad_token, "model_max_length": length if length < 2**63 else None,
                     "normalizer": doc["normalizer"], "pre_tokenizer": doc["pre_tokenizer"], "decoder": doc["decoder"]})
        for text in texts:
            ids = tok.encode(text)
            plain = tok.encode(text, add_special_tokens=False)
            row = {"dir": name, "text": text, "ids": ids}
            if plain != ids:
                row["ids_plain"] = plain
            decode = tok.decode(ids)
            skip = tok.decode(ids, skip_special_tokens=True)
            if decode != text:
                row["decode"] = decode
            if skip != decode:
                row["decode_skip"] = skip
            rows.append(row)
    with open(os.path.join(OUT, "expected-spm-folders.jsonl"), "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(rows)} rows; {len(FOLDERS) + 1} folders")


if __name__ == "__main__":
    main()
