// The drawing page: a 256x256 label-map canvas, tools, presets, upload,
// render through POST /api/translate, and a history of renders.
"use strict";

const SIZE = 256;
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
ctx.imageSmoothingEnabled = false;
const $ = (id) => document.getElementById(id);

const state = {
  color: L.window,
  undo: [],
  drag: null,
  models: [],
  history: [],
  busy: false,
};

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", !!isError);
}

// ---- drawing (no antialiasing: a label map holds only the label colours) ----

function snapshot() {
  return ctx.getImageData(0, 0, SIZE, SIZE);
}

function pushUndo() {
  state.undo.push(snapshot());
  if (state.undo.length > 50) state.undo.shift();
  $("undo").disabled = false;
}

function undo() {
  const img = state.undo.pop();
  if (img) ctx.putImageData(img, 0, 0);
  $("undo").disabled = state.undo.length === 0;
}

function fill(color) {
  ctx.fillStyle = color;
  ctx.fillRect(0, 0, SIZE, SIZE);
}

function paintRects(rects) {
  for (const [label, x, y, w, h] of rects) {
    ctx.fillStyle = L[label];
    ctx.fillRect(Math.round(x), Math.round(y), Math.round(w), Math.round(h));
  }
}

function loadPreset(name) {
  pushUndo();
  fill(L.facade);
  paintRects(PRESETS[name]);
}

function stamp(cx, cy, r) {
  for (let dy = -r; dy <= r; dy++) {
    const dx = Math.floor(Math.sqrt(r * r - dy * dy));
    ctx.fillRect(cx - dx, cy + dy, 2 * dx + 1, 1);
  }
}

function strokeTo(from, to, r) {
  const n = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y)));
  for (let i = 0; i <= n; i++) {
    const t = i / n;
    stamp(Math.round(from.x + (to.x - from.x) * t), Math.round(from.y + (to.y - from.y) * t), r);
  }
}

function canvasPoint(ev) {
  // Inside the border: the canvas's content box maps onto its 256x256 pixels.
  const box = canvas.getBoundingClientRect();
  const x = ev.clientX - box.left - canvas.clientLeft;
  const y = ev.clientY - box.top - canvas.clientTop;
  return {
    x: Math.max(0, Math.min(SIZE - 1, Math.floor((x / canvas.clientWidth) * SIZE))),
    y: Math.max(0, Math.min(SIZE - 1, Math.floor((y / canvas.clientHeight) * SIZE))),
  };
}

function tool() {
  return document.querySelector('input[name="tool"]:checked').value;
}

canvas.addEventListener("pointerdown", (ev) => {
  if (ev.button !== 0) return;
  canvas.setPointerCapture(ev.pointerId);
  const p = canvasPoint(ev);
  pushUndo();
  const radius = Math.max(1, Math.round($("brush-size").value / 2));
  state.drag = { tool: tool(), start: p, last: p, before: state.undo[state.undo.length - 1], radius };
  ctx.fillStyle = state.color;
  if (state.drag.tool === "brush") strokeTo(p, p, radius);
  else ctx.fillRect(p.x, p.y, 1, 1);
});

canvas.addEventListener("pointermove", (ev) => {
  const d = state.drag;
  if (!d) return;
  const p = canvasPoint(ev);
  ctx.fillStyle = state.color;
  if (d.tool === "brush") {
    strokeTo(d.last, p, d.radius);
  } else {
    ctx.putImageData(d.before, 0, 0);
    ctx.fillStyle = state.color;
    const x = Math.min(d.start.x, p.x), y = Math.min(d.start.y, p.y);
    ctx.fillRect(x, y, Math.abs(p.x - d.start.x) + 1, Math.abs(p.y - d.start.y) + 1);
  }
  d.last = p;
});

function endDrag() {
  state.drag = null;
}
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);

// ---- palette, presets, upload ----

function buildPalette() {
  const box = $("palette");
  for (const l of LABELS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "swatch";
    b.dataset.label = l.name;
    b.setAttribute("role", "radio");
    b.setAttribute("aria-checked", String(l.color === state.color));
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = l.color; // CSSOM, allowed by the page's CSP
    b.append(chip, l.name);
    b.addEventListener("click", () => {
      state.color = l.color;
      for (const o of box.children) o.setAttribute("aria-checked", String(o === b));
    });
    box.appendChild(b);
  }
}

function buildPresets() {
  const box = $("presets");
  for (const name of Object.keys(PRESETS)) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = name;
    b.addEventListener("click", () => loadPreset(name));
    box.appendChild(b);
  }
}

async function upload(file) {
  if (!file) return;
  try {
    const bmp = await createImageBitmap(file);
    pushUndo();
    // Centre square crop, scaled to the canvas.
    const s = Math.min(bmp.width, bmp.height);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(bmp, (bmp.width - s) / 2, (bmp.height - s) / 2, s, s, 0, 0, SIZE, SIZE);
    ctx.imageSmoothingEnabled = false;
    setStatus(`Loaded ${file.name} (${bmp.width}x${bmp.height}, centre square).`);
  } catch (e) {
    setStatus(`Cannot open ${file.name}: not an image this browser can read.`, true);
  }
}

// ---- models and rendering ----

async function loadModels() {
  const sel = $("model");
  try {
    const r = await fetch("/api/models");
    const body = await r.json();
    state.models = body.models;
  } catch (e) {
    setStatus("Cannot list the models: is the server running?", true);
    return;
  }
  for (const m of state.models) {
    const o = document.createElement("option");
    o.value = m.name;
    o.textContent = `${m.name} (${m.task})`;
    sel.appendChild(o);
  }
  // Label maps are what this page draws: prefer a label → photo model.
  const labelModel = state.models.find((m) => m.task.startsWith("label"));
  if (labelModel) sel.value = labelModel.name;
  showModelInfo();
}

function showModelInfo() {
  const m = state.models.find((x) => x.name === $("model").value);
  $("model-info").textContent = m
    ? `${m.task}, ${m.input_channels}→${m.output_channels} channels, trained at ${m.input_size}x${m.input_size}. ${m.description || ""}`
    : "";
}

function canvasBlob() {
  return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
}

async function render() {
  if (state.busy) return;
  const model = $("model").value;
  if (!model) {
    setStatus("No model to render with.", true);
    return;
  }
  state.busy = true;
  $("render").disabled = true;
  setStatus(`Rendering with ${model}…`);
  try {
    const input = await canvasBlob();
    const t0 = performance.now();
    const r = await fetch(`/api/translate?model=${encodeURIComponent(model)}`, {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body: input,
    });
    if (!r.ok) {
      let msg = `HTTP ${r.status}`;
      try {
        msg = (await r.json()).error || msg;
      } catch (_) {}
      setStatus(`Not rendered: ${msg}`, true);
      return;
    }
    const output = await r.blob();
    const ms = r.headers.get("X-Inference-Ms");
    const entry = {
      model,
      input: URL.createObjectURL(input),
      output: URL.createObjectURL(output),
      ms: ms ? Number(ms) : performance.now() - t0,
      n: state.history.length + 1,
    };
    state.history.push(entry);
    showResult(entry);
    addHistory(entry);
    setStatus(`Rendered by ${model} in ${entry.ms.toFixed(0)} ms.`);
  } catch (e) {
    setStatus(`Not rendered: ${e.message}`, true);
  } finally {
    state.busy = false;
    $("render").disabled = false;
  }
}

function showResult(entry) {
  const img = $("result");
  img.src = entry.output;
  img.hidden = false;
  img.dataset.render = String(entry.n);
  const a = $("download");
  a.href = entry.output;
  a.download = `pix2pix-${entry.model}-${entry.n}.png`;
  a.hidden = false;
}

function addHistory(entry) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "history-item";
  b.title = `#${entry.n}: ${entry.model}, ${entry.ms.toFixed(0)} ms. Click to open again.`;
  const inImg = new Image();
  inImg.src = entry.input;
  inImg.alt = `input ${entry.n}`;
  const outImg = new Image();
  outImg.src = entry.output;
  outImg.alt = `result ${entry.n}`;
  const label = document.createElement("span");
  label.textContent = `#${entry.n} ${entry.model}`;
  b.append(inImg, outImg, label);
  b.addEventListener("click", () => reopen(entry));
  $("history").prepend(b);
}

function reopen(entry) {
  const img = new Image();
  img.onload = () => {
    pushUndo();
    ctx.drawImage(img, 0, 0, SIZE, SIZE);
    showResult(entry);
    if ([...$("model").options].some((o) => o.value === entry.model)) $("model").value = entry.model;
    showModelInfo();
    setStatus(`Opened render #${entry.n} again.`);
  };
  img.src = entry.input;
}

// ---- wiring ----

buildPalette();
buildPresets();
fill(L.facade);
paintRects(PRESETS["Apartment block"]);
$("undo").disabled = true;
$("undo").addEventListener("click", undo);
$("clear").addEventListener("click", () => {
  pushUndo();
  fill(L.facade);
});
$("upload").addEventListener("change", (ev) => upload(ev.target.files[0]));
$("render").addEventListener("click", render);
$("model").addEventListener("change", showModelInfo);
document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && ev.key === "z") {
    ev.preventDefault();
    undo();
  }
});
loadModels();
