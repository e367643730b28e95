// Token chips coloured by log-probability, and the popover with a token's top-5
// alternatives (hover, keyboard focus, or tap to pin it).
"use strict";

const TOP_N = 5;

/** How a token piece reads inside the popover: spaces and line ends made visible. */
function visible(piece) {
  if (piece === "") return "(part of a character)";
  return piece.replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥");
}

function percent(p) {
  if (p >= 0.995) return (p * 100).toFixed(1) + "%";
  if (p >= 0.0001) return (p * 100).toFixed(p >= 0.1 ? 1 : 2) + "%";
  return "<0.01%";
}

/**
 * One OpenAI log-probs block → token records {text, logprob, top}. `top` is the model's
 * top-N (most likely first); the chosen token is always among the keys the server sends.
 */
function tokenRecords(logprobs, kind) {
  const out = [];
  const { tokens = [], token_logprobs = [], top_logprobs = [] } = logprobs || {};
  tokens.forEach((text, i) => {
    const lp = token_logprobs[i];
    const alternatives = Object.entries(top_logprobs[i] || {}).map(([token, logprob]) => ({ token, logprob }));
    alternatives.sort((a, b) => b.logprob - a.logprob);
    out.push({ text, kind, logprob: typeof lp === "number" ? lp : null, top: alternatives });
  });
  return out;
}

/** Appends chips for `records` to `container`; `records[i]` gets index `start + i`. */
function appendChips(container, records, start) {
  const fragment = document.createDocumentFragment();
  records.forEach((r, i) => {
    const chip = document.createElement("span");
    chip.className = "tok " + r.kind + (r.logprob === null ? " nolp" : "");
    chip.tabIndex = 0;
    chip.setAttribute("role", "button");
    chip.dataset.index = String(start + i);
    chip.dataset.logprob = r.logprob === null ? "" : String(r.logprob);
    if (r.logprob !== null) chip.style.setProperty("--lp", String(Math.max(r.logprob, -12)));
    const parts = r.text.split("\n");
    parts.forEach((part, k) => {
      if (k > 0) chip.append("↵");
      if (part) chip.append(part);
    });
    if (r.text === "") chip.append("·");
    fragment.append(chip);
    if (parts.length > 1) fragment.append(document.createElement("br"));
  });
  container.append(fragment);
}

/** The alternatives popover for the chips in one container. */
class Alternatives {
  constructor(container, popover, recordAt) {
    this.container = container;
    this.popover = popover;
    this.recordAt = recordAt;
    this.pinned = null;
    container.addEventListener("mouseover", e => { const c = this.chip(e); if (c && !this.pinned) this.show(c); });
    container.addEventListener("mouseleave", () => { if (!this.pinned) this.hide(); });
    container.addEventListener("focusin", e => { const c = this.chip(e); if (c && !this.pinned) this.show(c); });
    container.addEventListener("click", e => {
      const c = this.chip(e);
      if (!c) return;
      if (this.pinned === c) { this.hide(); return; }
      this.show(c);
      this.pin(c);
    });
    document.addEventListener("click", e => {
      if (this.pinned && !this.container.contains(e.target) && !this.popover.contains(e.target)) this.hide();
    });
    window.addEventListener("resize", () => this.hide());
    window.addEventListener("scroll", () => { if (!this.popover.hidden && this.current) this.place(this.current); }, { passive: true });
  }

  chip(event) { return event.target.closest && event.target.closest(".tok"); }

  pin(chip) {
    this.pinned = chip;
    chip.classList.add("pinned");
  }

  hide() {
    if (this.pinned) this.pinned.classList.remove("pinned");
    this.pinned = null;
    this.popover.hidden = true;
    this.current = null;
  }

  show(chip) {
    const r = this.recordAt(Number(chip.dataset.index));
    if (!r) return;
    if (this.pinned && this.pinned !== chip) this.pinned.classList.remove("pinned");
    this.pinned = null;
    this.popover.replaceChildren(...this.content(r));
    this.popover.dataset.index = chip.dataset.index;
    this.popover.hidden = false;
    this.current = chip;
    this.place(chip);
  }

  content(r) {
    const el = (tag, cls, text) => {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined) e.textContent = text;
      return e;
    };
    const head = el("div", "alts-head");
    head.append(el("code", "piece", visible(r.text)));
    if (r.logprob === null) {
      head.append(el("span", "dim", r.kind === "prompt" ? "prompt token" : ""));
      return [head, el("p", "dim", "The first token has no log-prob: nothing comes before it.")];
    }
    head.append(el("b", "prob", percent(Math.exp(r.logprob))), el("span", "dim", "log p " + r.logprob.toFixed(3)));
    const top = r.top.slice(0, TOP_N);
    const rank = top.findIndex(a => a.token === r.text && a.logprob === r.logprob);
    const title = el("div", "alts-title", `${r.kind === "prompt" ? "prompt token · " : ""}top-${top.length} alternatives`);
    const list = el("ol", "alts-list");
    for (const a of top) {
      const p = Math.exp(a.logprob);
      const li = el("li", a.token === r.text && a.logprob === r.logprob ? "chosen" : "");
      li.dataset.logprob = String(a.logprob);
      const bar = el("span", "bar");
      const fill = el("i");
      fill.style.width = (p * 100).toFixed(2) + "%";
      fill.style.setProperty("--lp", String(a.logprob));
      bar.append(fill);
      li.append(el("code", "piece", visible(a.token)), bar, el("span", "pct", percent(p)));
      list.append(li);
    }
    const note = el("p", "dim", rank >= 0 ? `the ${r.kind === "prompt" ? "actual" : "sampled"} token ranks ${rank + 1}`
                                         : `the ${r.kind === "prompt" ? "actual" : "sampled"} token is not in the top ${TOP_N}`);
    return [head, title, list, note];
  }

  place(chip) {
    const pop = this.popover;
    if (window.innerWidth < 600) {
      pop.classList.add("sheet");
      pop.style.left = pop.style.top = "";
      return;
    }
    pop.classList.remove("sheet");
    const box = chip.getBoundingClientRect(), w = pop.offsetWidth, h = pop.offsetHeight;
    const left = Math.min(Math.max(8, box.left), window.innerWidth - w - 8);
    const below = box.bottom + 6, above = box.top - h - 6;
    pop.style.left = left + "px";
    pop.style.top = (below + h < window.innerHeight - 8 || above < 8 ? below : above) + "px";
  }
}
