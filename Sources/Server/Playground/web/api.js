// The page's only door to the server: same-origin fetches of the public API, the API key
// from local storage, and errors turned into readable sentences.
"use strict";

const KEY_STORAGE = "polycom.apiKey";

function apiKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

function setApiKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch { /* storage disabled: the key lives as long as the field */ }
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: "Bearer " + key } : extra;
}

/** An HTTP or network failure, carrying what the OpenAI error envelope said. */
class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }

  /** A title a person understands; the server's own message goes beside it. */
  get title() {
    switch (this.status) {
      case 0: return "Cannot reach the server.";
      case 400: return "The server refused the request:";
      case 401: return "API key required:";
      case 404: return "Not found:";
      case 413: return "The request is too large:";
      case 429: return "The server is busy; try again in a moment:";
      case 503: return "The model is not ready:";
      default:
        if (this.status >= 500) return `Server error (${this.status}):`;
        return this.status > 0 ? `Error ${this.status}:` : "Something went wrong:";
    }
  }
}

async function errorFrom(response) {
  let type = "", message = response.statusText || "request failed";
  try {
    const body = await response.json();
    if (body && body.error) {
      type = body.error.type || "";
      message = body.error.message || message;
    }
  } catch { /* not the envelope: keep the status text */ }
  if (response.status === 401) message += " — enter it in the API key field at the top.";
  return new ApiError(response.status, type, message);
}

async function send(path, { method = "GET", body, signal } = {}) {
  const headers = authHeaders(body === undefined ? {} : { "Content-Type": "application/json" });
  let response;
  try {
    response = await fetch(path, { method, headers, signal, cache: "no-store",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "network", "is `polycom serve` still running?");
  }
  if (!response.ok) throw await errorFrom(response);
  return response;
}

async function getJSON(path) { return (await send(path)).json(); }
async function postJSON(path, body) { return (await send(path, { method: "POST", body })).json(); }
async function getText(path) { return (await send(path)).text(); }

/**
 * POSTs a streaming completion and calls `onChoice(choice, frame)` for every SSE event
 * until `[DONE]`. Aborting `signal` closes the connection: the server then cancels the
 * sequence and frees its KV cache.
 */
async function streamCompletion(body, signal, onChoice) {
  const response = await send("/v1/completions", { method: "POST", body: { ...body, stream: true }, signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      if (data === "[DONE]") return;
      const frame = JSON.parse(data);
      if (frame.error) throw new ApiError(frame.error.code || 500, frame.error.type, frame.error.message);
      for (const choice of frame.choices || []) onChoice(choice, frame);
      if (frame.usage) onChoice(null, frame);
    }
  }
}

// The error banner, shared by every panel.
function showError(error) {
  const box = document.getElementById("error");
  const e = error instanceof ApiError ? error : new ApiError(-1, "client", String(error && error.message || error));
  document.getElementById("error-title").textContent = e.title;
  document.getElementById("error-text").textContent = e.message;
  box.dataset.status = String(e.status);
  box.hidden = false;
}

function clearError() { document.getElementById("error").hidden = true; }
