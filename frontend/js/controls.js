// Controls: preset, every configuration field, the local/global toggle, which node sets to
// show, and the graph pickers (circuit, input, coverage). Built once; `sync()` writes the state
// back into them after every change (a link, back/forward, a preset).

import { familyColor, nodeSetColor } from "./colors.js";
import {
  FIELDS,
  PRESET_LABELS,
  PRESET_NAMES,
  describeField,
  parseField,
  presetDefaults,
  state,
  update,
} from "./state.js";

const MAX_SAMPLES_X_DIMS = 20000000;
const els = { fields: {} };
let lastBasesKey = "";
let lastCircuitsKey = "";
let lastInputsKey = "";

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "className") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function fmtValue(name, v) {
  if (FIELDS[name].kind === "choice") return String(v);
  return FIELDS[name].kind === "int" ? String(v) : Number(v).toFixed(2);
}

function setHint(name, message) {
  const f = els.fields[name];
  if (!f) return;
  f.hint.textContent = message || FIELDS[name].help;
  f.hint.classList.toggle("error", Boolean(message));
  if (message) f.input.setAttribute("aria-invalid", "true");
  else f.input.removeAttribute("aria-invalid");
}

/** Check one number field against its range and the cross-field rules; a message or null. */
function checkField(name, value) {
  if (value === undefined) return `expected ${describeField(name)}`;
  const c = { ...state.config, [name]: value };
  if (c.active > c.animals) return name === "active" ? `at most animals (${c.animals})` : `at least active (${c.active})`;
  if (c.samples * (c.attributes + c.random_dims) > MAX_SAMPLES_X_DIMS) {
    return `samples × (attributes + random dims) must stay at most ${MAX_SAMPLES_X_DIMS.toLocaleString("en")}`;
  }
  return null;
}

function commitNumber(name) {
  const input = els.fields[name].input;
  const value = parseField(name, input.value);
  const problem = checkField(name, value);
  if (problem) {
    setHint(name, problem);
    return;
  }
  setHint(name, null);
  input.value = fmtValue(name, value);
  if (value !== state.config[name]) update({ config: { [name]: value } }, "push", "controls");
}

function numberField(name) {
  const f = FIELDS[name];
  const id = `f-${name}`;
  const input = el("input", {
    id,
    name,
    type: "number",
    inputmode: "numeric",
    min: f.min,
    max: f.max,
    step: 1,
    required: true,
    "aria-describedby": `${id}-hint`,
  });
  const hint = el("span", { id: `${id}-hint`, className: "hint", text: f.help });
  input.addEventListener("change", () => commitNumber(name));
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") {
      ev.preventDefault();
      commitNumber(name);
    }
  });
  els.fields[name] = { input, hint };
  return el("div", { className: "field" }, el("label", { for: id, text: f.label }), input, hint);
}

function sliderField(name, how) {
  const f = FIELDS[name];
  const id = `f-${name}`;
  const min = f.minOpen ? f.step : f.min;
  const input = el("input", {
    id,
    name,
    type: "range",
    min,
    max: f.max,
    step: f.step,
    "aria-describedby": `${id}-hint`,
  });
  const out = el("output", { for: id, id: `${id}-out`, className: "slider-value" });
  const hint = el("span", { id: `${id}-hint`, className: "hint", text: f.help });
  input.addEventListener("input", () => {
    const v = parseField(name, input.value);
    if (v === undefined) return;
    out.textContent = fmtValue(name, v);
    input.setAttribute("aria-valuetext", out.textContent);
    update({ config: { [name]: v } }, how, "controls");
  });
  els.fields[name] = { input, hint, out };
  return el(
    "div",
    { className: "field slider" },
    el("label", { for: id }, f.label, " ", out),
    input,
    hint,
  );
}

function choiceField(name) {
  const f = FIELDS[name];
  const id = `f-${name}`;
  const input = el("select", { id, name, "aria-describedby": `${id}-hint` });
  for (const c of f.choices) input.append(el("option", { value: c, text: c }));
  const hint = el("span", { id: `${id}-hint`, className: "hint", text: f.help });
  input.addEventListener("change", () => update({ config: { [name]: input.value } }, "push", "controls"));
  els.fields[name] = { input, hint };
  return el("div", { className: "field" }, el("label", { for: id, text: f.label }), input, hint);
}

function buildConfigForm(form) {
  const presetId = "f-preset";
  const select = el("select", { id: presetId, name: "preset", "aria-describedby": `${presetId}-hint` });
  for (const name of PRESET_NAMES) select.append(el("option", { value: name, text: PRESET_LABELS[name] }));
  select.addEventListener("change", () => update({ config: { preset: select.value } }, "push", "controls"));
  els.preset = select;
  form.append(
    el(
      "div",
      { className: "field preset" },
      el("label", { for: presetId, text: "Preset" }),
      select,
      el("span", { id: `${presetId}-hint`, className: "hint", text: "a named starting point; resets the fields below" }),
    ),
  );
  for (const name of ["animals", "attributes", "random_dims", "active", "samples", "seed", "circuits"]) {
    form.append(numberField(name));
  }
  for (const name of ["alpha", "overlay", "composite_weight"]) form.append(sliderField(name, "replace"));
  for (const name of ["residual", "overlay_sampling", "attribute_law"]) form.append(choiceField(name));
  form.append(numberField("attributes_on"));
  const reset = el("button", { type: "button", className: "reset", text: "Reset to preset" });
  reset.addEventListener("click", () => {
    const d = presetDefaults(state.config.preset);
    const { preset: _p, ...fields } = d;
    for (const name of Object.keys(els.fields)) setHint(name, null);
    update({ config: fields }, "push", "controls");
  });
  form.append(el("div", { className: "field actions" }, reset));
  form.addEventListener("submit", (ev) => ev.preventDefault());
}

function buildViewToggle(root) {
  const fs = el("fieldset", { className: "segmented" }, el("legend", { text: "Count" }));
  for (const [value, label] of [
    ["local", "Local: one input"],
    ["global", "Global: whole dataset"],
  ]) {
    const id = `view-${value}`;
    const input = el("input", { type: "radio", name: "view", id, value });
    input.addEventListener("change", () => {
      if (input.checked) update({ ui: { view: value } }, "push", "controls");
    });
    els[`view_${value}`] = input;
    fs.append(input, el("label", { for: id, text: label }));
  }
  root.append(fs);
}

function buildGraphControls(root) {
  const circuit = el("select", { id: "pick-circuit", name: "circuit" });
  circuit.addEventListener("change", () => update({ ui: { circuit: circuit.value, node: null } }, "push", "controls"));
  const input = el("select", { id: "pick-input", name: "input" });
  input.addEventListener("change", () => update({ ui: { input: input.value } }, "push", "controls"));
  els.circuit = circuit;
  els.input = input;
  root.append(
    el("div", { className: "field" }, el("label", { for: "pick-circuit", text: "Circuit" }), circuit),
    el("div", { className: "field" }, el("label", { for: "pick-input", text: "Input" }), input),
    sliderField("coverage", "live"),
  );
}

export function init() {
  buildConfigForm(document.getElementById("config-form"));
  buildViewToggle(document.getElementById("view-toggle"));
  buildGraphControls(document.getElementById("graph-controls"));
  document.getElementById("show-sets").addEventListener("change", onShowChange);
}

function onShowChange(ev) {
  const boxes = [...document.querySelectorAll("#show-sets input[type=checkbox]")];
  let checked = boxes.filter((b) => b.checked).map((b) => b.value);
  if (!checked.length) {
    // At least one node set stays on; re-tick the one just cleared.
    ev.target.checked = true;
    checked = [ev.target.value];
  }
  const show = checked.length === boxes.length ? null : checked;
  update({ ui: { show } }, "push", "controls");
}

function syncShowSets() {
  const bases = (state.data.table && state.data.table.bases) || [];
  const key = bases.map((b) => b.id).join("|");
  const fs = document.getElementById("show-sets");
  if (key !== lastBasesKey) {
    lastBasesKey = key;
    fs.querySelectorAll(".check").forEach((n) => n.remove());
    for (const b of bases) {
      const id = `show-${b.id.replace(/[^a-z0-9]/gi, "-")}`;
      const box = el("input", { type: "checkbox", id, value: b.id, name: "show" });
      const sw = el("span", { className: "swatch", "aria-hidden": "true" });
      sw.style.setProperty("--hue", nodeSetColor(b.id));
      fs.append(el("span", { className: "check" }, box, el("label", { for: id }, sw, b.id)));
    }
  }
  for (const box of fs.querySelectorAll("input[type=checkbox]")) {
    box.checked = !state.ui.show || state.ui.show.includes(box.value);
  }
}

function syncPickers() {
  const model = state.data.model;
  if (!model) return;
  const circuits = model.circuits || [];
  const ckey = circuits.map((c) => c.id).join("|");
  if (ckey !== lastCircuitsKey) {
    lastCircuitsKey = ckey;
    els.circuit.replaceChildren();
    const families = [...new Set(circuits.map((c) => c.family))];
    for (const fam of families) {
      const group = el("optgroup", { label: `${fam} circuits` });
      group.style.setProperty("color", familyColor(fam));
      for (const c of circuits.filter((x) => x.family === fam)) {
        group.append(el("option", { value: c.id, text: c.label ? `${c.label}` : c.id }));
      }
      els.circuit.append(group);
    }
  }
  if (state.ui.circuit) els.circuit.value = state.ui.circuit;
  const examples = model.examples || [];
  const ikey = examples.map((e) => e.id).join("|");
  if (ikey !== lastInputsKey) {
    lastInputsKey = ikey;
    els.input.replaceChildren(el("option", { value: "dataset", text: "the whole dataset (mean over inputs)" }));
    const group = el("optgroup", { label: "example inputs" });
    for (const e of examples) group.append(el("option", { value: e.id, text: e.label || e.id }));
    els.input.append(group);
  }
  els.input.value = state.ui.input;
}

/** Write the state into every control (without firing their events). */
export function sync() {
  els.preset.value = state.config.preset;
  for (const [name, f] of Object.entries(els.fields)) {
    const v = state.config[name];
    const needs = FIELDS[name].needs;
    if (needs) f.input.disabled = state.config[needs[0]] !== needs[1];
    if (f.out) {
      f.input.value = String(v);
      f.out.textContent = fmtValue(name, v);
      f.input.setAttribute("aria-valuetext", f.out.textContent);
    } else if (document.activeElement !== f.input || parseField(name, f.input.value) === v) {
      f.input.value = fmtValue(name, v);
      setHint(name, null);
    }
  }
  els.view_local.checked = state.ui.view === "local";
  els.view_global.checked = state.ui.view === "global";
  syncShowSets();
  syncPickers();
}
