// The playground page: three panels over rnnrun's HTTP API (api.js).
import { listModels, generate, classify, ApiError } from "./api.js";

const $ = (id) => document.getElementById(id);
const TUTORIAL_TEMPS = [0.2, 0.6, 1.2];
const POLL_MS = 2000;
const CLASSIFY_DEBOUNCE_MS = 150;

function showError(region, err) {
  region.textContent = err ? String(err instanceof ApiError ? err : (err.message || err)) : "";
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// ---- Models --------------------------------------------------------------

const TASK_TEXT = "text-generation";
const TASK_IMAGE = "image-classification";

let modelsLoaded = false;

async function pollModels() {
  try {
    const list = await listModels();
    showError($("models-error"), null);
    $("models").classList.remove("stale");
    renderModels(list);
    fillPicker($("text-model"), list.models, TASK_TEXT);
    fillPicker($("digit-model"), list.models, TASK_IMAGE);
    modelsLoaded = true;
  } catch (err) {
    showError($("models-error"), err);
    $("models").classList.add("stale"); // the table shows the last answer
  } finally {
    setTimeout(pollModels, POLL_MS);
  }
}

function basename(p) {
  return (p || "").split("/").filter(Boolean).pop() || "";
}

function clock(d) {
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function renderModels(list) {
  const cols = ["model", "status", "backend", "version", "file", "loaded"];
  const rows = list.models.flatMap((m) => {
    const v = m.version || {};
    const status = el("span", { class: "badge " + m.status }, m.status);
    const version = v.sha256 ? el("code", { title: v.sha256 }, v.sha256.slice(0, 12)) : "–";
    const file = el("span", { class: "path", title: v.path || m.path }, basename(v.path || m.path));
    const loaded = v.loaded_at ? clock(new Date(v.loaded_at)) : "–";
    const row = el("tr", { "data-model": m.name },
      el("th", { scope: "row" }, m.name, el("small", {}, m.task || "")),
      el("td", { "data-col": "status" }, status),
      el("td", { "data-col": "backend" }, m.backend || "–"),
      el("td", { "data-col": "version" }, version),
      el("td", { "data-col": "file" }, file),
      el("td", { "data-col": "loaded" }, loaded, el("small", {}, `${m.loads} load${m.loads === 1 ? "" : "s"}`)));
    if (!m.last_error) return [row];
    const when = m.last_error_at ? ` (${clock(new Date(m.last_error_at))})` : "";
    const what = m.status === "ready" ? "reload failed, the version above still serves" : "load failed";
    return [row, el("tr", { class: "error-row", "data-error-of": m.name },
      el("td", { colspan: String(cols.length), class: "last-error" }, `${what}${when}: ${m.last_error}`))];
  });
  const head = el("tr", {}, ...cols.map((h) => el("th", { scope: "col" }, h)));
  const table = el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows));
  $("models").replaceChildren(table);
  const c = list.config || {};
  $("config-status").textContent = c.path
    ? `Config ${c.path}${c.last_error ? ": reload failed: " + c.last_error : ""}.`
    : "";
  $("config-status").classList.toggle("last-error", Boolean(c.last_error));
  $("models-updated").textContent = `Refreshed ${clock(new Date())}, every ${POLL_MS / 1000} s.`;
}

// fillPicker lists the models of one task, keeping the current choice.
function fillPicker(select, models, task) {
  const mine = models.filter((m) => m.task === task || (!m.task && m.status !== "ready"));
  const key = mine.map((m) => m.name + ":" + m.status).join(",");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  const current = select.value;
  select.replaceChildren(...mine.map((m) => {
    const o = el("option", { value: m.name }, m.status === "ready" ? m.name : `${m.name} (${m.status})`);
    if (m.name === current) o.selected = true;
    return o;
  }));
  if (!mine.length) select.append(el("option", { value: "" }, "no model of this kind is configured"));
}

// ---- Text ----------------------------------------------------------------

let running = null; // the AbortController of the generation under way

function readParams() {
  const num = (id) => {
    const s = $(id).value.trim();
    return s === "" ? undefined : Number(s);
  };
  const p = { prompt: $("prompt").value, temperature: num("temperature"), top_k: num("top-k"),
    top_p: num("top-p"), seed: num("seed"), max_length: num("length") };
  for (const [k, v] of Object.entries(p)) if (v === undefined || Number.isNaN(v)) delete p[k];
  return p;
}

function setTemperature(t) {
  $("temperature").value = t;
  showTemperature();
}

function showTemperature() {
  const t = Number($("temperature").value);
  $("temperature-value").textContent = t.toFixed(2);
  for (const b of document.querySelectorAll(".preset")) {
    b.setAttribute("aria-pressed", String(Math.abs(Number(b.dataset.temp) - t) < 1e-9));
  }
}

// Sample is one output pane: its text grows as chunks arrive.
class Sample {
  constructor(index, temperature) {
    this.chars = 0;
    this.pending = "";
    this.text = document.createTextNode("");
    this.rate = el("span", { class: "rate" }, "");
    this.status = el("span", { class: "status", "aria-live": "polite" }, "waiting…");
    this.pre = el("pre", { class: "text", tabindex: "0", "aria-label": `Generated text, temperature ${temperature}` }, this.text);
    this.node = el("section", { class: "sample", id: `sample-${index}`, "data-temperature": String(temperature) },
      el("header", {}, el("strong", {}, `temperature ${temperature}`), this.rate, this.status), this.pre);
  }
  add(piece) {
    this.chars += [...piece].length;
    this.pending += piece;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }
  flush() {
    this.frame = 0;
    if (!this.pending) return;
    const atEnd = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 4;
    this.text.appendData(this.pending);
    this.pending = "";
    if (atEnd) this.pre.scrollTop = this.pre.scrollHeight;
    const secs = (performance.now() - this.begun) / 1000;
    if (secs > 0) this.rate.textContent = `${Math.round(this.chars / secs).toLocaleString()} chars/s`;
    this.status.textContent = `${this.chars.toLocaleString()} characters…`;
  }
  finish(message, state) {
    this.flush();
    this.status.textContent = message;
    this.node.dataset.state = state;
  }
}

async function runSample(sample, model, params, signal) {
  sample.begun = performance.now();
  try {
    const done = await generate(model, params, (piece) => sample.add(piece), signal);
    const st = done.stats;
    sample.flush();
    sample.rate.textContent = `${Math.round(st.chars_per_second).toLocaleString()} chars/s`;
    sample.finish(`done: ${st.generated_chars} characters, stop: ${st.stop_reason}, seed ${done.seed}`, "done");
  } catch (err) {
    if (err.name === "AbortError") {
      sample.finish(`stopped after ${sample.chars.toLocaleString()} characters`, "stopped");
      return null;
    }
    sample.finish("failed", "failed");
    return `temperature ${params.temperature}: ${err}`;
  }
  return null;
}

async function startGeneration(ev) {
  ev.preventDefault();
  if (running) return;
  const model = $("text-model").value;
  showError($("text-error"), null);
  if (!model) {
    showError($("text-error"), "No text-generation model is ready; see the Models panel.");
    return;
  }
  const params = readParams();
  const temps = $("compare").checked ? TUTORIAL_TEMPS : [params.temperature];
  const samples = temps.map((t, i) => new Sample(i, t));
  const outputs = $("outputs");
  outputs.classList.toggle("compare", temps.length > 1);
  outputs.replaceChildren(...samples.map((s) => s.node));
  running = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  document.body.dataset.generating = "true";
  const errors = await Promise.all(samples.map((s, i) =>
    runSample(s, model, { ...params, temperature: temps[i] }, running.signal)));
  const failed = errors.filter(Boolean);
  showError($("text-error"), failed.length ? failed.join("\n") : null);
  running = null;
  $("generate").disabled = false;
  $("stop").disabled = true;
  delete document.body.dataset.generating;
  if (document.activeElement === document.body) $("generate").focus();
}

function stopGeneration() {
  if (!running) return;
  running.abort();
  $("generate").focus();
}

function setupText() {
  $("text-form").addEventListener("submit", startGeneration);
  $("stop").addEventListener("click", stopGeneration);
  $("temperature").addEventListener("input", showTemperature);
  // Side by side, the three tutorial temperatures replace the slider's.
  $("compare").addEventListener("change", () => {
    const on = $("compare").checked;
    $("temperature").disabled = on;
    for (const b of document.querySelectorAll(".preset")) b.disabled = on;
  });
  for (const b of document.querySelectorAll(".preset")) {
    b.addEventListener("click", () => setTemperature(b.dataset.temp));
  }
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) $("text-form").requestSubmit();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") stopGeneration();
  });
  showTemperature();
}

// ---- Digits --------------------------------------------------------------

const pad = $("pad");
const ctx = pad.getContext("2d");
let drawing = null; // the pointer drawing, with its last point
let inked = false;
let classifyTimer = 0;
let classifySeq = 0;

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, pad.width, pad.height);
  inked = false;
}

function padPoint(e) {
  const r = pad.getBoundingClientRect();
  return { x: (e.clientX - r.left) * pad.width / r.width, y: (e.clientY - r.top) * pad.height / r.height };
}

function stroke(from, to) {
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = pad.width / 12;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
  inked = true;
}

function scheduleClassify(delay) {
  clearTimeout(classifyTimer);
  classifyTimer = setTimeout(() => {
    if (inked) pad.toBlob((blob) => classifyImage(blob, "true"), "image/png");
  }, delay);
}

async function classifyImage(blob, preprocess) {
  const model = $("digit-model").value;
  if (!model) {
    showError($("digit-error"), "No image-classification model is ready; see the Models panel.");
    return;
  }
  const seq = ++classifySeq;
  try {
    const p = await classify(model, blob, { preprocess });
    if (seq !== classifySeq) return; // a newer drawing was sent meanwhile
    showError($("digit-error"), null);
    showPrediction(p);
  } catch (err) {
    if (seq === classifySeq) showError($("digit-error"), err);
  }
}

function showPrediction(p) {
  $("digit-label").textContent = p.label;
  $("digit-prob").textContent = `${(p.prob * 100).toFixed(1)}%${p.preprocessed ? "" : " (fed as is)"}`;
  $("digits-panel").dataset.label = p.label;
  const bars = $("bars");
  if (bars.children.length !== p.probs.length) bars.replaceChildren(...p.probs.map((_, i) =>
    el("li", {}, el("span", { class: "digit" }, String(i)), el("span", { class: "bar" }, el("span", {})),
      el("span", { class: "pct" }, ""))));
  p.probs.forEach((prob, i) => {
    const li = bars.children[i];
    li.classList.toggle("best", i === p.index);
    li.querySelector(".bar > span").style.width = `${(prob * 100).toFixed(2)}%`;
    li.querySelector(".pct").textContent = `${(prob * 100).toFixed(1)}%`;
    li.setAttribute("aria-label", `${i}: ${(prob * 100).toFixed(1)} percent`);
  });
  if (p.input) showInput(p.input);
}

// showInput paints the model's input, one canvas pixel per model pixel.
function showInput(input) {
  const seen = $("seen");
  seen.width = input.width;
  seen.height = input.height;
  const c = seen.getContext("2d");
  const img = c.createImageData(input.width, input.height);
  input.pixels.forEach((row, y) => row.forEach((v, x) => {
    const o = 4 * (y * input.width + x);
    img.data[o] = img.data[o + 1] = img.data[o + 2] = v;
    img.data[o + 3] = 255;
  }));
  c.putImageData(img, 0, 0);
}

function resetDigits() {
  clearPad();
  clearTimeout(classifyTimer);
  classifySeq++;
  showError($("digit-error"), null);
  $("digit-label").textContent = "–";
  $("digit-prob").textContent = "";
  delete $("digits-panel").dataset.label;
  $("bars").replaceChildren();
  const seen = $("seen");
  seen.getContext("2d").clearRect(0, 0, seen.width, seen.height);
}

async function uploadFile() {
  const file = $("file").files[0];
  if (!file) return;
  resetDigits();
  try { // show it on the pad too, when the browser can decode it
    const bmp = await createImageBitmap(file);
    const s = Math.min(pad.width / bmp.width, pad.height / bmp.height);
    const w = bmp.width * s, h = bmp.height * s;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bmp, (pad.width - w) / 2, (pad.height - h) / 2, w, h);
    bmp.close();
  } catch (_) { /* the server will say what is wrong with it */ }
  await classifyImage(file, "auto");
  $("file").value = "";
}

function setupDigits() {
  clearPad();
  pad.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    const pt = padPoint(e);
    drawing = { id: e.pointerId, last: pt };
    stroke(pt, pt);
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    const pt = padPoint(e);
    stroke(drawing.last, pt);
    drawing.last = pt;
    scheduleClassify(CLASSIFY_DEBOUNCE_MS);
  });
  const end = (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    drawing = null;
    scheduleClassify(0);
  };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  $("clear").addEventListener("click", resetDigits);
  $("upload").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", uploadFile);
  $("digit-model").addEventListener("change", () => scheduleClassify(0));
}

setupText();
setupDigits();
pollModels();
window.playground = { get modelsLoaded() { return modelsLoaded; } };
