// The Generate panel: a streamed completion with echo + logprobs, its chips and its
// figures; Stop aborts the fetch, which closes the connection and cancels the sequence.
"use strict";

class GeneratePanel {
  constructor(popover) {
    this.tokensBox = document.getElementById("tokens");
    this.stats = document.getElementById("gen-stats");
    this.generateButton = document.getElementById("generate");
    this.stopButton = document.getElementById("stop");
    this.records = [];
    this.controller = null;
    this.alternatives = new Alternatives(this.tokensBox, popover, i => this.records[i]);
    this.generateButton.addEventListener("click", () => this.generate());
    this.stopButton.addEventListener("click", () => this.stop());
  }

  get running() { return this.controller !== null; }

  /** The request body from the form; the numbers the server validates itself. */
  body() {
    const value = id => document.getElementById(id).value.trim();
    const number = id => (value(id) === "" ? undefined : Number(value(id)));
    const stops = document.getElementById("stop-strings").value.split("\n").filter(s => s !== "");
    const body = {
      prompt: document.getElementById("prompt").value,
      max_tokens: number("max-tokens"), temperature: number("temperature"), top_p: number("top-p"),
      top_k: number("top-k"), seed: number("seed"),
      echo: true, logprobs: TOP_N, stream_options: { include_usage: true },
    };
    if (stops.length) body.stop = stops;
    if (document.getElementById("ignore-eos").checked) body.ignore_eos = true;
    for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
    return body;
  }

  setState(state, text) {
    this.stats.dataset.state = state;
    this.stats.textContent = text;
    this.generateButton.disabled = state === "streaming";
    this.stopButton.disabled = state !== "streaming";
  }

  figures(extra) {
    const prompt = this.records.filter(r => r.kind === "prompt").length;
    const generated = this.records.length - prompt;
    const parts = [`${prompt} prompt + ${generated} generated tokens`];
    if (this.firstAt !== undefined) parts.push(`first token ${Math.round(this.firstAt - this.startedAt)} ms`);
    if (generated > 1 && this.lastAt > this.firstAt) {
      parts.push(`${((generated - 1) / ((this.lastAt - this.firstAt) / 1000)).toFixed(1)} tokens/s`);
    }
    if (extra) parts.push(extra);
    return parts.join(" · ");
  }

  async generate() {
    if (this.running) return;
    clearError();
    this.alternatives.hide();
    this.records = [];
    this.tokensBox.replaceChildren();
    this.firstAt = this.lastAt = undefined;
    this.startedAt = performance.now();
    this.finishReason = null;
    const controller = new AbortController();
    this.controller = controller;
    this.setState("streaming", "waiting for the first token…");
    let promptSeen = false;
    try {
      await streamCompletion(this.body(), controller.signal, choice => {
        if (!choice) return;
        if (choice.finish_reason) this.finishReason = choice.finish_reason;
        if (!choice.logprobs) return;
        // The first frame of an echo stream is the prompt with its log-probs.
        const kind = promptSeen ? "gen" : "prompt";
        promptSeen = true;
        const records = tokenRecords(choice.logprobs, kind);
        if (kind === "gen" && records.length) {
          this.lastAt = performance.now();
          if (this.firstAt === undefined) this.firstAt = this.lastAt;
        }
        appendChips(this.tokensBox, records, this.records.length);
        this.records.push(...records);
        this.setState("streaming", this.figures("streaming…"));
      });
      const why = { length: "stopped at max tokens", stop: "stop string or end of text", abort: "aborted by the server" };
      this.setState("done", this.figures(why[this.finishReason] || (this.finishReason ? "finish: " + this.finishReason : "done")));
    } catch (e) {
      if (e.name === "AbortError") {
        this.setState("stopped", this.figures("stopped — the server freed the sequence"));
      } else {
        showError(e);
        this.setState("error", this.records.length ? this.figures("failed") : "failed — see the message above");
      }
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  stop() {
    if (this.controller) this.controller.abort();
  }
}
