"""lm-evaluation-harness reference for `polycom eval`: runs lm-eval 0.4.x (`local-completions`,
the README's command) against `polycom serve` on the committed subsets in
Tests/Fixtures/eval and records, per document, the rendered context, the continuations,
every choice's log-likelihood and is_greedy, and acc / acc_norm, plus the aggregates.
It also records how lm-eval's own code turns text pairs into tokens (trailing whitespace,
empty contexts, BOS, left truncation) with the Hugging Face tokenizer of the model.

    python3 -m venv --system-site-packages /tmp/lmeval && /tmp/lmeval/bin/pip install \
        "lm-eval[api]==0.4.13" "datasets<4" "huggingface-hub<1"
    swift build --product polycom          # or -c release
    /tmp/lmeval/bin/python tools/reference/make_eval_reference.py [--polycom .build/debug/polycom]

Writes Tests/Fixtures/eval/lm-eval-reference.json (deterministic but for float noise of
the server's batching, ~1e-6).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "Fixtures" / "eval"
MODEL = REPO / "Models" / "polynorm-demo"
TASKS = ["hellaswag", "arc_easy", "arc_challenge", "sciq"]
# lm-eval keeps max_length - 1 tokens of context + continuation (one position is kept for
# the token its API requests generate); 257 → 256 tokens, so that the longer SciQ
# documents are cut from the left.
LM_EVAL_MAX_LENGTH = 257


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, port, model=MODEL):
    proc = subprocess.Popen([binary, "serve", "--model", str(model), "--port", str(port),
                             "--served-model-name", Path(model).name],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("polycom serve did not become healthy")


def task_dir(data_dir):
    """The tools/lm-eval task YAMLs, pointed at the files in `data_dir`."""
    out = Path(tempfile.mkdtemp(prefix="polycom-lmeval-tasks-"))
    src = REPO / "tools" / "lm-eval" / "tasks"
    shutil.copy(src / "hellaswag_utils.py", out)
    for t in TASKS:
        text = (src / f"{t}_local.yaml").read_text()
        text = text.replace(f"tools/lm-eval/data/{t}.jsonl", str(Path(data_dir) / f"{t}.jsonl"))
        (out / f"{t}_local.yaml").write_text(text)
    return out


def run_lm_eval(port, data_dir, limit=None, batch_size=4, tasks=TASKS, max_length=LM_EVAL_MAX_LENGTH):
    import lm_eval
    from lm_eval.tasks import TaskManager

    model_args = (f"model=polynorm-demo,base_url=http://127.0.0.1:{port}/v1/completions,"
                  f"num_concurrent=1,max_retries=1,max_length={max_length}")
    return lm_eval.simple_evaluate(
        model="local-completions", model_args=model_args,
        tasks=[f"{t}_local" for t in tasks], task_manager=TaskManager(include_path=str(task_dir(data_dir))),
        batch_size=batch_size, limit=limit, log_samples=True, bootstrap_iters=100000)


def compact(out):
    tasks = {}
    for t in TASKS:
        r = out["results"][f"{t}_local"]
        docs = []
        for s in sorted(out["samples"][f"{t}_local"], key=lambda s: s["doc_id"]):
            args = s["arguments"]
            contexts = {a[0] for a in args}
            assert len(contexts) == 1, "one context per document"
            docs.append({
                "doc_id": s["doc_id"], "context": args[0][0], "continuations": [a[1] for a in args],
                "label": s["target"], "loglikelihoods": [fr[0] for fr in s["filtered_resps"]],
                "is_greedy": [bool(fr[1]) for fr in s["filtered_resps"]],
                "acc": s["acc"], "acc_norm": s["acc_norm"],
            })
        tasks[t] = {"acc": r["acc,none"], "acc_stderr": r["acc_stderr,none"], "acc_norm": r["acc_norm,none"],
                    "acc_norm_stderr": r["acc_norm_stderr,none"], "num_docs": len(docs), "docs": docs}
    return tasks


PAIRS = [
    ("The sky is", " blue"),
    ("The sky is ", "blue"),           # trailing space moves to the continuation
    ("Question: Why?\nAnswer:\n", "Because"),  # trailing newline too (Python's rstrip)
    ("Tabs\t \t", "end"),
    ("Hello wor", "ld and more"),     # a word split across the boundary
    ("", "An empty context"),          # becomes the prefix token (BOS)
    ("Émile a écrit", " « déjà » 😀"),
    ("x", " y"),
]


def pair_rules():
    """lm-eval's own tokenization of PAIRS (`TemplateAPI.loglikelihood` → `_encode_pair`,
    empty contexts, `batch_loglikelihood_requests` truncation), Hugging Face tokenizer."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.openai_completions import LocalCompletionsAPI

    out = []
    for add_bos in (False, True):
        lm = LocalCompletionsAPI(base_url=None, tokenizer_backend="huggingface", tokenizer=str(MODEL),
                                 model="polynorm-demo", add_bos_token=add_bos, max_length=9)
        captured = []

        def capture(requests, **kwargs):
            captured.extend(requests)
            return [(0.0, True)] * len(requests)

        lm._loglikelihood_tokens = capture
        lm.loglikelihood([Instance("loglikelihood", {}, (c, x), i) for i, (c, x) in enumerate(PAIRS)],
                         disable_tqdm=True)
        # max_length=9 keeps 8 tokens: the longer pairs are cut from the left.
        inputs, ctxlens, _ = lm.batch_loglikelihood_requests([captured])
        for (key, ctx, cont), inp, ctxlen in zip(captured, inputs, ctxlens):
            out.append({"context": key[0], "continuation": key[1], "add_bos_token": add_bos,
                        "context_tokens": ctx, "continuation_tokens": cont,
                        "truncated_max_length": 8, "truncated_context_tokens": inp[:ctxlen]})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--polycom", default=str(REPO / ".build" / "debug" / "polycom"))
    ap.add_argument("--out", default=str(FIXTURES / "lm-eval-reference.json"))
    args = ap.parse_args()
    import lm_eval

    port = free_port()
    server = start_server(args.polycom, port)
    try:
        out = run_lm_eval(port, FIXTURES)
    finally:
        server.terminate()
        server.wait()
    fixture = {
        "lm_eval_version": lm_eval.__version__,
        "model": "Models/polynorm-demo",
        "lm_eval_max_length": LM_EVAL_MAX_LENGTH,
        "max_length": LM_EVAL_MAX_LENGTH - 1,
        "tasks": compact(out),
        "pairs": pair_rules(),
    }
    Path(args.out).write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    for t, r in fixture["tasks"].items():
        print(f"{t}: acc {r['acc']:.4f} acc_norm {r['acc_norm']:.4f} ({r['num_docs']} docs)")
    print("wrote", args.out)


if __name__ == "__main__":
    sys.exit(main())
