// Compare continuations: one context, several endings, each scored by /v1/loglikelihood
// and drawn as a bar with the model's pick highlighted (HellaSwag, one question at a time).
"use strict";

// HellaSwag's first validation question (ActivityNet); the label is the last ending.
const SAMPLE_ENDINGS = [
  "is using wrap to wrap a pair of skis.",
  "is ripping level tiles off.",
  "is holding a rubik's cube.",
  "starts pulling up roofing on a roof.",
];
const MAX_ENDINGS = 8;

/** lm-evaluation-harness joins context and ending with one space unless either has one. */
function continuationFor(context, ending) {
  return /\s$/.test(context) || /^\s/.test(ending) ? ending : " " + ending;
}

/** Scores to compare: the sum, or normalised per character (acc_norm) or per token. */
function normalised(result, continuation, norm) {
  if (norm === "char") return result.logprob / Math.max(1, Array.from(continuation).length);
  if (norm === "token") return result.logprob / Math.max(1, result.num_tokens);
  return result.logprob;
}

class ComparePanel {
  constructor() {
    this.list = document.getElementById("endings");
    this.bars = document.getElementById("bars");
    this.norm = document.getElementById("norm");
    this.button = document.getElementById("score");
    this.last = null;
    SAMPLE_ENDINGS.forEach(e => this.addEnding(e));
    document.getElementById("add-ending").addEventListener("click", () => this.addEnding("", true));
    this.button.addEventListener("click", () => this.score());
    this.norm.addEventListener("change", () => { if (this.last) this.render(this.last); });
  }

  addEnding(text, focus = false) {
    if (this.list.children.length >= MAX_ENDINGS) return;
    const li = document.createElement("li");
    const input = document.createElement("input");
    input.type = "text";
    input.value = text;
    input.spellcheck = false;
    input.setAttribute("aria-label", "ending");
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "ghost";
    remove.textContent = "✕";
    remove.setAttribute("aria-label", "remove ending");
    remove.addEventListener("click", () => { if (this.list.children.length > 2) li.remove(); });
    li.append(input, remove);
    this.list.append(li);
    if (focus) input.focus();
  }

  async score() {
    clearError();
    const context = document.getElementById("context").value;
    const endings = [...this.list.querySelectorAll("input")].map(i => i.value).filter(e => e.trim() !== "");
    if (endings.length < 2) { showError(new ApiError(-1, "client", "give at least two endings to compare.")); return; }
    const continuations = endings.map(e => continuationFor(context, e));
    this.button.disabled = true;
    this.bars.dataset.state = "scoring";
    try {
      const reply = await postJSON("/v1/loglikelihood", {
        requests: continuations.map(continuation => ({ context, continuation })),
      });
      this.last = { endings, continuations, results: reply.results };
      this.render(this.last);
    } catch (e) {
      showError(e);
      this.bars.dataset.state = "error";
    } finally {
      this.button.disabled = false;
    }
  }

  render({ endings, continuations, results }) {
    const scores = results.map((r, i) => normalised(r, continuations[i], this.norm.value));
    const best = Math.max(...scores);
    const weights = scores.map(s => Math.exp(s - best));
    const total = weights.reduce((a, b) => a + b, 0);
    const winner = scores.indexOf(best);
    // Bars on a linear axis of the score: the worst ending short, the best full. (Shares
    // of probability go to 0% / 100% as soon as totals differ by a few nats.)
    const worst = Math.min(...scores), floor = worst - 0.15 * (best - worst || 1);
    const rows = endings.map((ending, i) => {
      const share = weights[i] / total;
      const row = document.createElement("div");
      row.className = "bar-row" + (i === winner ? " winner" : "");
      Object.assign(row.dataset, { logprob: String(results[i].logprob), score: String(scores[i]), share: String(share) });
      const label = document.createElement("div");
      label.className = "bar-label";
      const letter = document.createElement("span");
      letter.className = "letter";
      letter.textContent = String.fromCharCode(65 + i);
      const text = document.createElement("span");
      text.className = "ending";
      text.textContent = ending;
      label.append(letter, text);
      if (i === winner) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "model's pick";
        label.append(badge);
      }
      const bar = document.createElement("div");
      bar.className = "bar";
      const fill = document.createElement("i");
      fill.style.width = (100 * (scores[i] - floor) / (best - floor)).toFixed(2) + "%";
      bar.append(fill);
      const value = document.createElement("div");
      value.className = "bar-value";
      const r = results[i];
      const normNote = this.norm.value === "sum" ? "" : ` · ${scores[i].toFixed(3)} per ${this.norm.value === "char" ? "char" : "token"}`;
      value.textContent = `log p ${r.logprob.toFixed(2)}${normNote} · ${r.num_tokens} tokens · share ${percent(share)}${r.is_greedy ? " · greedy" : ""}`;
      row.append(label, bar, value);
      return row;
    });
    this.bars.replaceChildren(...rows);
    this.bars.dataset.state = "done";
  }
}
