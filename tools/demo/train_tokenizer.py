#!/usr/bin/env python3
"""A small Llama-style tokenizer for the demo model, trained with Hugging Face `tokenizers`
on the corpus of make_corpus.py: SentencePiece-style BPE ("▁" marks a word start) with byte
fallback, <unk>=0 <s>=1 </s>=2, the 256 <0xNN> byte tokens, then merges up to --vocab-size.

The file is written in the layout of Llama's tokenizer.json (normalizer Prepend("▁") +
Replace(" ", "▁"), no pre-tokenizer, <s> prepended), the layout polycom's tokenizer is
tested on. Training splits at word starts (Metaspace), so no merge spans two words and the
whole-text BPE of that layout gives the same tokens.

    python3 tools/demo/train_tokenizer.py --data .build/demo/corpus/train.jsonl --out .build/demo/tokenizer
"""
import argparse, json, os
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

SPECIALS = ["<unk>", "<s>", "</s>"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=4096)
    a = ap.parse_args()
    texts = [json.loads(l)["text"] for l in open(a.data)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bytes_ = [f"<0x{i:02X}>" for i in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=a.vocab_size, special_tokens=SPECIALS + bytes_, min_frequency=2,
                                  initial_alphabet=[], limit_alphabet=200, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    # Llama's layout (see the docstring).
    tok.pre_tokenizer = None
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    os.makedirs(a.out, exist_ok=True)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
               "pad_token": "<unk>", "model_max_length": 512, "tokenizer_class": "LlamaTokenizerFast", "clean_up_tokenization_spaces": False},
              open(os.path.join(a.out, "tokenizer_config.json"), "w"), indent=2)
    json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"},
              open(os.path.join(a.out, "special_tokens_map.json"), "w"), indent=2)
    # Same tokens with and without the word split of training (the docstring's claim).
    check = Tokenizer.from_file(os.path.join(a.out, "tokenizer.json"))
    split = Tokenizer.from_file(os.path.join(a.out, "tokenizer.json"))
    split.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    split.normalizer = None
    for t in texts[:50]:
        assert check.encode(t).ids == split.encode(t).ids, "whole-text BPE differs from the word-split BPE"
    n = sum(len(check.encode(t).ids) for t in texts)
    print(f"vocab {check.get_vocab_size()}, {n} tokens in {a.data} ({sum(map(len, texts)) / n:.2f} characters per token)")


if __name__ == "__main__":
    main()
