// The model card: /v1/models (and /tokenizer_info when the model changes) and a few
// /metrics figures every few seconds (tokens/s is the change of the generated-token counter).
"use strict";

const REFRESH_MS = 3000;

/** Prometheus text → {name: [{labels, value}]}. */
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] || "").matchAll(/(\w+)="([^"]*)"/g)) labels[k] = v;
    (out[m[1]] = out[m[1]] || []).push({ labels, value: Number(m[4]) });
  }
  return out;
}

function metricSum(metrics, name, keep = () => true) {
  return (metrics[name] || []).filter(s => keep(s.labels)).reduce((a, s) => a + s.value, 0);
}

function mebibytes(bytes) {
  return bytes >= 1 << 30 ? (bytes / (1 << 30)).toFixed(2) + " GiB" : (bytes / (1 << 20)).toFixed(1) + " MiB";
}

class ModelCard {
  constructor() {
    this.status = document.getElementById("status");
    this.statusText = document.getElementById("status-text");
    this.updated = document.getElementById("card-updated");
    this.model = null;
    this.previous = null;
    this.lastProblem = null;
    this.timer = null;
  }

  set(id, text) { document.getElementById(id).textContent = text; }

  setStatus(state, text, title = "") {
    this.status.dataset.state = state;
    this.statusText.textContent = text;
    this.status.title = title;
  }

  start() {
    // A restart (new key) while a refresh is in flight must not leave two loops running.
    const run = this.run = (this.run || 0) + 1;
    clearTimeout(this.timer);
    const tick = async () => {
      await this.refresh();
      if (run === this.run) this.timer = setTimeout(tick, REFRESH_MS);
    };
    tick();
  }

  /** Refreshes now (after the API key changed). */
  reset() {
    this.model = null;
    this.start();
  }

  async refresh() {
    try {
      // Asked every time: a server that went away, or wants a key now, shows at once.
      const model = (await getJSON("/v1/models")).data[0];
      if (!this.model || this.model.id !== model.id) {
        const tokenizer = await getJSON("/tokenizer_info");
        this.set("m-id", model.id);
        this.set("m-context", `${model.max_model_len} tokens`);
        this.set("m-tokenizer", `${tokenizer.vocab_size.toLocaleString("en")} tokens`);
        this.set("m-special", [["BOS", tokenizer.bos_token], ["EOS", tokenizer.eos_token]]
          .filter(([, t]) => t).map(([k, t]) => `${k} ${t}`).join(" · ") || "none");
        document.title = `${model.id} · polycom playground`;
      }
      this.model = model;
      this.setStatus("ready", model.id + " ready");
      this.lastProblem = null;
    } catch (e) {
      this.model = null;
      const state = e.status === 401 ? "key" : e.status === 503 ? "loading" : "down";
      this.setStatus(state, { key: "API key needed", loading: "model not ready", down: "unreachable" }[state], e.message);
      // The banner once per kind of problem, not every refresh.
      if (this.lastProblem !== e.status) showError(e);
      this.lastProblem = e.status;
    }
    try {
      this.showMetrics(parseMetrics(await getText("/metrics")));
    } catch { /* the status pill already says why */ }
  }

  showMetrics(m) {
    const now = performance.now();
    const generated = metricSum(m, "polycom_generation_tokens_total");
    const requests = metricSum(m, "polycom_requests_total");
    const errors = metricSum(m, "polycom_requests_total", l => Number(l.status) >= 400);
    this.set("m-requests", requests.toLocaleString("en") + (errors ? ` (${errors.toLocaleString("en")} errors)` : ""));
    this.set("m-generated", generated.toLocaleString("en") + " tokens");
    this.set("m-running", String(metricSum(m, "polycom_sequences_running")));
    this.set("m-waiting", String(metricSum(m, "polycom_sequences_waiting")));
    this.set("m-kv", mebibytes(metricSum(m, "polycom_kv_cache_bytes")));
    if (this.previous) {
      const rate = (generated - this.previous.generated) / ((now - this.previous.at) / 1000);
      this.set("m-tps", rate.toFixed(1));
    }
    this.previous = { generated, at: now };
    this.updated.textContent = "· updated " + new Date().toLocaleTimeString("en-GB");
  }
}
