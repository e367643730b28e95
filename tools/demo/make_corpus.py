#!/usr/bin/env python3
"""The demo model's corpus: the King James Bible (1611; public domain, its copyright long
expired) from Debian's bible-kjv-text package, extracted with the package's own `bible`
program (bible-kjv; GPL-2+, only run here, not shipped).

Writes OUT/train.jsonl and OUT/val.jsonl, one {"text": chapter} line per chapter (verse
numbers dropped, verses joined by spaces); every 20th chapter (1189 in all, 60 held out) is
validation, so both sets span the whole book. About 4.3 MB of text, 1189 chapters.

    python3 tools/demo/make_corpus.py --out .build/demo/corpus

Needs apt to reach a Debian mirror (`apt-get download`, no root) or the two .deb files in
--debs.
"""
import argparse, glob, json, os, re, subprocess, tempfile

PACKAGES = ["bible-kjv-text", "bible-kjv"]


def fetch(debs):
    for p in PACKAGES:
        if not glob.glob(os.path.join(debs, p + "_*.deb")):
            subprocess.run(["apt-get", "download", p], cwd=debs, check=True, stdout=subprocess.DEVNULL)
    root = os.path.join(debs, "root")
    for p in PACKAGES:
        subprocess.run(["dpkg-deb", "-x", sorted(glob.glob(os.path.join(debs, p + "_*.deb")))[-1], root], check=True)
    return root


def chapters(root):
    text = subprocess.run([root + "/usr/bin/bible", "-p", root + "/usr/lib", "-d", "bible.data", "-l100000", "gen1:1-rev22:21"],
                          check=True, capture_output=True, text=True).stdout  # -d takes a name, -p its folder
    out, verses = [], []
    for line in text.splitlines():
        m = re.match(r"^\s+\d+ (.*)$", line)
        if m:
            verses.append(m.group(1).strip())
        elif line.strip():  # "Genesis 1": a new chapter
            if verses:
                out.append(" ".join(verses))
            verses = []
    if verses:
        out.append(" ".join(verses))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--debs", help="folder with (or for) the .deb files")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    debs = a.debs or tempfile.mkdtemp(prefix="kjv-")
    os.makedirs(debs, exist_ok=True)
    chs = chapters(fetch(debs))
    assert len(chs) == 1189, f"expected 1189 chapters, got {len(chs)}"
    with open(os.path.join(a.out, "train.jsonl"), "w") as t, open(os.path.join(a.out, "val.jsonl"), "w") as v:
        for i, c in enumerate(chs):
            (v if i % 20 == 19 else t).write(json.dumps({"text": c}) + "\n")
    print(f"{len(chs)} chapters, {sum(map(len, chs))} characters -> {a.out}/train.jsonl, val.jsonl")


if __name__ == "__main__":
    main()
