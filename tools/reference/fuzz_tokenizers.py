#!/usr/bin/env python3
"""Random-text differential check of `polycom tokenize` / `polycom detokenize` against HF tokenizers.

Not part of the test suite (it needs the built CLI and Python); run it after changing the tokenizer:
    swift build -c release && python3 tools/reference/fuzz_tokenizers.py --polycom .build/release/polycom [--seed N]
It draws 4000 texts from mixed pools (ASCII, accents as NFC and NFD, Hangul syllables and jamo,
Indic and Tibetan vowel signs, emoji with ZWJ, special-token strings, control characters) and
compares ids, offsets and decodes for the three fixture tokenizers, with and without special tokens.
"""
import argparse, json, os, random, subprocess, tempfile
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "Tests", "Fixtures", "tokenizers")
ap = argparse.ArgumentParser()
ap.add_argument("--polycom", required=True)
ap.add_argument("--seed", type=int, default=1234)
args = ap.parse_args()
random.seed(args.seed)
P = args.polycom
work = tempfile.mkdtemp()
base = json.load(open(os.path.join(FIX, "llama", "tokenizer.json")))
patch = json.load(open(os.path.join(FIX, "llama-nonlegacy.patch.json")))
base.update(patch["set"])
os.makedirs(os.path.join(work, "nonlegacy"))
json.dump(base, open(os.path.join(work, "nonlegacy", "tokenizer.json"), "w"), ensure_ascii=False)
pools = [
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  \t\n\r", ".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`",
  "éèêëàâäôöûüçñÅåøßœæ", "\u0300\u0301\u0302\u0308\u0323\u0327\u0345", "αβγδεζηθλμπσωΑΒΓ", "абвгдежзийклмнопрст",
  "日本語中文字漢汉字测试テストひらがなカタカナ", "한국어텍스트\u1100\u1161\u11a8", "😀😃👍🏽👨‍👩‍👧\u200d\ufe0f🇺🇸", "\u200b\u00a0\u2009\u3000\u2028\u0085\ufeff",
  "ﬁﬂ①②Ⅻ½²³ｆｕｌ", "\u0915\u093c\u0916\u09c7\u09be\u0bc6\u0bbe\u0f73\u0f71", "<s></s><unk><|endoftext|><|padding|>", "'s't're've'm'll'd",
  "\x00\x01\x7f\ufffd\ue000\U0010fffd\U0001d518",
]
texts = []
for i in range(4000):
    n = random.choice([1, 2, 3, 5, 8, 13, 30, 80, 200])
    w = random.sample(range(len(pools)), random.randint(1, 4))
    s = ''.join(random.choice(pools[random.choice(w)]) for _ in range(n))
    if random.random() < 0.3:
        s = s.replace('<', ' <')
    texts.append(s)
with open(os.path.join(work, 'in.jsonl'),'w') as f:
    for t in texts: f.write(json.dumps({"text": t})+"\n")
for name, path in [('olmo', os.path.join(FIX, 'olmo', 'tokenizer.json')), ('llama', os.path.join(FIX, 'llama', 'tokenizer.json')), ('nonlegacy', os.path.join(work, 'nonlegacy', 'tokenizer.json'))]:
    tok = Tokenizer.from_file(path)
    for special in [False, True]:
        args=[P,'tokenize','--tokenizer',path,'--jsonl','--offsets'] + (['--add-special-tokens'] if special else [])
        out = subprocess.run(args, stdin=open(os.path.join(work, 'in.jsonl')), capture_output=True, text=True)
        assert out.returncode==0, out.stderr
        rows=[json.loads(l) for l in out.stdout.split('\n') if l]
        assert len(rows)==len(texts)
        bad_ids=bad_off=0
        for t,r in zip(texts,rows):
            e=tok.encode(t, add_special_tokens=special)
            if e.ids!=r['ids']:
                bad_ids+=1
                if bad_ids<=3: print(name, 'IDS', repr(t)[:120], e.ids[:20], r['ids'][:20])
            elif [list(o) for o in e.offsets]!=r['offsets']:
                bad_off+=1
                if bad_off<=2: print(name, 'OFF', repr(t)[:100], [x for x in zip(e.offsets, r['offsets']) if list(x[0])!=x[1]][:4])
        with open(os.path.join(work, 'ids.jsonl'),'w') as f:
            for t in texts: f.write(json.dumps({"ids": tok.encode(t, add_special_tokens=special).ids})+"\n")
        bad_dec=0
        for skip in [False, True]:
            out = subprocess.run([P,'detokenize','--tokenizer',path,'--jsonl']+(['--skip-special-tokens'] if skip else []), stdin=open(os.path.join(work, 'ids.jsonl')), capture_output=True, text=True)
            assert out.returncode==0, out.stderr
            lines=[l for l in out.stdout.split('\n') if l]
            assert len(lines)==len(texts)
            for t,l in zip(texts,lines):
                want=tok.decode(tok.encode(t, add_special_tokens=special).ids, skip_special_tokens=skip)
                if json.loads(l)['text']!=want:
                    bad_dec+=1
                    if bad_dec<=3: print(name,'DEC',repr(t)[:80], repr(want)[:80], repr(json.loads(l)['text'])[:80])
        print(f"{name} special={special}: {len(texts)} texts, id mismatches {bad_ids}, offset mismatches {bad_off}, decode mismatches {bad_dec}")
