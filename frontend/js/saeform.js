// The learned-dictionary form: kind, width, sparsity (L1 λ or k, relabelled with the kind),
// steps and seed, filled from the link's SAE, and read back with each field's range checked
// (the first bad field is marked and named in the status line). Training is not started here:
// the submit handler is given by sae.js.

import { el } from "./controls.js";
import { SAE_DEFAULTS, SAE_KINDS, parseSae, state, update, usesL1 } from "./state.js";
import { els, formSource, setFormSource, setStatus } from "./saestate.js";

const MAX_STEPS = 20000;
const MAX_WIDTH = 8192;

function widthLimit() {
  return Math.min(MAX_WIDTH, 4 * (state.config.animals + state.config.attributes));
}

function numberInput(name, attrs) {
  return el("input", { id: `sae-${name}`, name, type: "number", required: true, ...attrs });
}

function field(name, label, input, hint) {
  return el("div", { className: "field" }, el("label", { for: `sae-${name}`, text: label }), input,
    el("span", { className: "hint", id: `sae-${name}-hint`, text: hint }));
}

/** Build the form's fields into `form`; `onTrain` runs when it is submitted. */
export function buildForm(form, onTrain) {
  els.kind = el("select", { id: "sae-kind", name: "kind" });
  for (const k of SAE_KINDS) els.kind.append(el("option", { value: k, text: k }));
  els.width = numberInput("width", { min: 1, step: 1, inputmode: "numeric" });
  els.sparsity = numberInput("sparsity", { min: 0, step: "any", inputmode: "decimal" });
  els.steps = numberInput("steps", { min: 1, max: MAX_STEPS, step: 1, inputmode: "numeric" });
  els.seed = numberInput("seed", { min: 0, step: 1, inputmode: "numeric" });
  els.train = el("button", { type: "submit", className: "run", text: "Train" });
  els.remove = el("button", { type: "button", className: "remove", text: "Remove column" });
  els.sparsityLabel = el("label", { for: "sae-sparsity", text: "L1 λ" });
  els.sparsityHint = el("span", { className: "hint", id: "sae-sparsity-hint" });
  form.append(
    field("kind", "Kind", els.kind, "relu, topk, batchtopk, matryoshka"),
    field("width", "Width", els.width, ""),
    el("div", { className: "field" }, els.sparsityLabel, els.sparsity, els.sparsityHint),
    field("steps", "Steps", els.steps, `optimiser steps, at most ${MAX_STEPS}`),
    field("seed", "SAE seed", els.seed, "initialisation and batch order"),
    el("div", { className: "field actions" }, els.train, els.remove),
  );
  els.kind.addEventListener("change", () => {
    const wasL1 = els.sparsity.dataset.kind === "l1";
    syncSparsity(usesL1(els.kind.value) === wasL1 ? els.sparsity.value : null);
  });
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    onTrain();
  });
  els.remove.addEventListener("click", () => update({ ui: { sae: null, basis: null } }, "push", "sae"));
}

function syncSparsity(value) {
  const l1 = usesL1(els.kind.value);
  els.sparsity.dataset.kind = l1 ? "l1" : "k";
  els.sparsityLabel.textContent = l1 ? "L1 λ" : "k";
  els.sparsityHint.textContent = l1 ? "L1 penalty, 0 to 1000" : "latents kept per input";
  els.sparsity.step = l1 ? "any" : "1";
  els.sparsity.max = l1 ? "1000" : "4096";
  els.sparsity.min = l1 ? "0" : "1";
  els.sparsity.value = value ?? String(l1 ? SAE_DEFAULTS.l1 : SAE_DEFAULTS.k);
}

/** Refill the form from the link's SAE, or the configuration's defaults when it changed. */
export function syncForm() {
  const n = state.config.animals + state.config.attributes;
  els.width.max = String(widthLimit());
  els.width.placeholder = String(n);
  document.getElementById("sae-width-hint").textContent = `latents; animals + attributes = ${n}, at most ${widthLimit()}`;
  const from = state.ui.sae || `config:${n}`;
  if (from === formSource()) return;
  setFormSource(from);
  const s = parseSae(state.ui.sae) || { kind: els.kind.value || "relu", width: n, sparsity: null, steps: SAE_DEFAULTS.steps, seed: SAE_DEFAULTS.seed };
  els.kind.value = s.kind;
  els.width.value = String(s.width);
  els.steps.value = String(s.steps);
  els.seed.value = String(s.seed);
  syncSparsity(s.sparsity == null ? null : String(s.sparsity));
}

/** The form's SAE, or null after marking the first bad field. */
export function readForm() {
  const kind = els.kind.value;
  const l1 = usesL1(kind);
  const checks = [
    ["width", els.width, 1, widthLimit(), true],
    ["sparsity", els.sparsity, l1 ? 0 : 1, l1 ? 1000 : Math.min(4096, Number(els.width.value) || 4096), !l1],
    ["steps", els.steps, 1, MAX_STEPS, true],
    ["seed", els.seed, 0, 4294967295, true],
  ];
  const out = { kind };
  for (const [name, input, lo, hi, int] of checks) {
    const raw = input.value.trim();
    const v = Number(raw);
    const ok = raw !== "" && Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v));
    input.toggleAttribute("aria-invalid", !ok);
    if (!ok) {
      setStatus(`${name === "sparsity" ? (l1 ? "L1 λ" : "k") : name}: expected ${int ? "a whole number" : "a number"} from ${lo} to ${hi}.`, "error");
      input.focus();
      return null;
    }
    out[name] = v;
  }
  return out;
}
