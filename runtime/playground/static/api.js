// Everything the playground asks the server goes through this module: the
// API's paths are here and nowhere else. They are relative to the page, so
// the page works wherever the API is mounted (docs/api.md).
export const PATHS = {
  models: "api/v1/models",
  generate: (name) => `api/v1/models/${encodeURIComponent(name)}/generate`,
  classify: (name) => `api/v1/models/${encodeURIComponent(name)}/classify`,
};

// ApiError is an error answer of the API ({"error": {"code", "message"}}),
// or a failure to reach the server at all (status 0).
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
  toString() {
    if (this.status === 0) return `cannot reach the server: ${this.message}`;
    return `${this.status} ${this.code}: ${this.message}`;
  }
}

function url(path, query) {
  const u = new URL(path, document.baseURI);
  for (const [k, v] of Object.entries(query || {})) u.searchParams.set(k, v);
  return u;
}

async function send(path, init, query) {
  let resp;
  try {
    resp = await fetch(url(path, query), init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    if (err.name === "TimeoutError") throw new ApiError(0, "timeout", "no answer in time");
    throw new ApiError(0, "network", err.message || String(err));
  }
  if (!resp.ok) throw await errorOf(resp);
  return resp;
}

async function errorOf(resp) {
  const text = await resp.text().catch(() => "");
  try {
    const e = JSON.parse(text).error;
    if (e && e.code) return new ApiError(resp.status, e.code, e.message);
  } catch (_) { /* not JSON: a proxy's page, say */ }
  return new ApiError(resp.status, "http_" + resp.status, text.trim().slice(0, 200) || resp.statusText);
}

// listModels returns the body of GET /api/v1/models.
export async function listModels(timeoutMs = 5000) {
  const resp = await send(PATHS.models, { signal: AbortSignal.timeout(timeoutMs), cache: "no-store" });
  return resp.json();
}

// generate streams POST /api/v1/models/{name}/generate with "stream": true. It
// calls onChunk(text) for every chunk event and returns the done event's data.
// Aborting signal closes the connection, which cancels the generation on the
// server.
export async function generate(name, params, onChunk, signal) {
  const resp = await send(PATHS.generate(name), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify({ ...params, stream: true }),
    signal,
  });
  let done = null;
  for await (const ev of events(resp.body)) {
    const data = JSON.parse(ev.data);
    if (ev.event === "chunk") onChunk(data.text);
    else if (ev.event === "done") done = data;
    else if (ev.event === "error") throw new ApiError(resp.status, data.error.code, data.error.message);
  }
  if (!done) throw new ApiError(resp.status, "stream_cut", "the stream ended before its done event");
  return done;
}

// events parses a Server-Sent Events body ("event:" and "data:" lines, a blank
// line ending each event). EventSource cannot POST, hence this reader.
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const ev = { event: "message", data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) ev.event = line.slice(6).trim();
          else if (line.startsWith("data:")) ev.data += line.slice(5).replace(/^ /, "");
        }
        if (ev.data) yield ev;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

// classify posts one image (a Blob or File) to POST /api/v1/models/{name}/classify
// and returns its prediction, with the 28x28 input the model saw.
export async function classify(name, image, { preprocess = "auto" } = {}, signal) {
  const resp = await send(PATHS.classify(name), {
    method: "POST",
    headers: { "Content-Type": image.type || "application/octet-stream" },
    body: image,
    signal,
  }, { preprocess, return_input: "true" });
  const body = await resp.json();
  return { model: body.model, version: body.version, ...body.predictions[0] };
}
