// The controller the page (main.js) and the embed (embed.js) share: applying a change request,
// resolving link values against the API's lists, loading the study and the panels, and falling
// back visibly when the API rejects a value. Every write to `state` goes through state.set().

import * as api from "./api.js";
import { clearestCircuit } from "./story.js";
import { FIELDS, UI_DEFAULTS, defaultCircuit, presetDefaults, set, shownBases, state } from "./state.js";

const changedKeys = (now, before) => Object.keys(now).filter((k) => JSON.stringify(now[k]) !== JSON.stringify(before[k]));

/** Add a notice once (same message) and return whether it was new. */
export function addNotice(n) {
  if (state.notices.some((x) => x.message === n.message)) return false;
  set({ notices: [...state.notices, n] });
  return true;
}

export function dropNotice(i) {
  set({ notices: state.notices.filter((_, j) => j !== i) });
}

/** Drop the notices marked transient; whether any went. */
export function dropTransientNotices() {
  const keep = state.notices.filter((n) => !n.transient);
  if (keep.length === state.notices.length) return false;
  set({ notices: keep });
  return true;
}

/**
 * Apply a view's change request {config, ui}: a new preset resets the config and the circuit
 * choices; "+N more" folds again for another circuit or input. Returns the changed keys.
 */
export function applyChange({ config = {}, ui = {} }) {
  const before = { config: { ...state.config }, ui: { ...state.ui } };
  if (config.preset !== undefined && config.preset !== state.config.preset) {
    set({ config: presetDefaults(config.preset), ui: { basis: null, circuit: null, input: UI_DEFAULTS.input, node: null } });
  }
  const rest = Object.fromEntries(Object.entries(config).filter(([k]) => k !== "preset"));
  set({ config: rest, ui });
  if (!("top" in ui) && (state.ui.circuit !== before.ui.circuit || state.ui.input !== before.ui.input)) set({ ui: { top: null } });
  return { cfg: changedKeys(state.config, before.config), uis: changedKeys(state.ui, before.ui) };
}

/**
 * Check the UI values against the table's node sets and the model's circuits and inputs;
 * a value that is not there falls back (with a notice when `warn`: it came from a link). A
 * missing circuit becomes the story's (the clearest attribute circuit) when `story`, else the
 * model's first.
 */
export function resolveUi({ warn = false, story = false } = {}) {
  const ui = { ...state.ui };
  const ids = state.data.table.bases.map((b) => b.id);
  const note = (n) => warn && addNotice(n);
  if (ui.show) {
    const lost = ui.show.filter((id) => !ids.includes(id));
    let keep = ui.show.filter((id) => ids.includes(id));
    // The union's id carries α; when α moves, keep showing the union that is listed now.
    if (lost.some((id) => id.startsWith("union"))) {
      const u = ids.find((id) => id.startsWith("union"));
      if (u) keep.push(u);
    }
    keep = ids.filter((id) => keep.includes(id));
    if (lost.length) {
      note({ field: "show", message: `Link value show lists unknown node sets (${lost.join(", ").slice(0, 60)}); ${keep.length ? "they are left out" : "showing every node set"}.` });
    }
    ui.show = keep.length === 0 || keep.length === ids.length ? null : keep;
  }
  if (ui.basis && !ids.includes(ui.basis)) {
    note({ field: "basis", message: `Link value basis=“${ui.basis}” is not a node set here; nothing is selected.` });
    ui.basis = null;
  }
  const model = state.data.model;
  const circuits = (model.circuits || []).map((c) => c.id);
  if (!ui.circuit || !circuits.includes(ui.circuit)) {
    if (ui.circuit) note({ field: "circuit", message: `Link value circuit=“${ui.circuit.slice(0, 40)}” is not a circuit of this model; showing the default circuit.` });
    const storyCircuit = story && ui.model === "planted" ? clearestCircuit(state.data.table, "attribute") : null;
    ui.circuit = storyCircuit || defaultCircuit(model);
  }
  const inputs = ["dataset", ...(model.examples || []).map((e) => e.id)];
  if (!inputs.includes(ui.input)) {
    note({ field: "input", message: `Link value input=“${ui.input.slice(0, 40)}” is not an example input; using the whole dataset.` });
    ui.input = UI_DEFAULTS.input;
  }
  set({ ui });
}

/**
 * The table (by `fetchTable`, which may answer null: not available) and the model. A table
 * across seeds that the API refuses (too costly here: 422) falls back, visibly, to the most
 * seeds the API says fit, else to one seed.
 */
export async function loadStudy(config, fetchTable) {
  const table = (async () => {
    for (;;) {
      try {
        return await fetchTable(config);
      } catch (err) {
        if (!(state.ui.seeds > 1 && err instanceof api.ApiError && err.status === 422)) throw err;
        const asked = state.ui.seeds;
        const fits = err.field === "seeds" ? Number((/ from 1 to (\d+)/.exec(err.message) || [])[1]) : NaN;
        const n = fits >= 1 && fits < asked ? fits : 1;
        addNotice({ field: "seeds", message: `The table across ${asked} seeds is too costly for this configuration (${err.message}); showing ${n === 1 ? "one seed" : `${n} seeds, the most that fit`}.` });
        set({ ui: { seeds: n } });
      }
    }
  })();
  const [tbl, model] = await Promise.all([table, api.fetchModel(config)]);
  return { table: tbl, model };
}

/** Every shown node set's panel for the chosen circuit and input. */
export function loadPanels(config) {
  return api.fetchPanels(config, shownBases(), state.ui.circuit, state.ui.input, state.ui.top || api.TOP);
}

/**
 * After a failed load: a value the API rejects (422) goes back to its default, visibly; a busy
 * server (503) is asked again. Returns the ms to wait before retrying, or null to give up (the
 * error is then a notice). `attempt` counts the retries so far.
 */
export function recover(err, attempt) {
  const isApi = err instanceof api.ApiError;
  if (isApi && err.status === 422 && attempt < 3) {
    const field = err.field;
    if (field && FIELDS[field]) {
      const d = presetDefaults(state.config.preset)[field];
      addNotice({ field, message: `The API rejected ${field} = ${state.config[field]} (${err.message}); using the default ${d}.` });
      set({ config: { [field]: d } });
    } else if (field in UI_DEFAULTS) {
      addNotice({ field, message: `The API rejected ${field} (${err.message}); using the default.` });
      set({ ui: { [field]: UI_DEFAULTS[field] } });
    } else {
      addNotice({ field: field || "config", message: `The API rejected this configuration (${err.message}); using the preset's defaults.` });
      set({ config: presetDefaults(state.config.preset) }, { replace: true });
    }
    return 0;
  }
  if (isApi && err.status === 503 && attempt < 5) {
    addNotice({ level: "info", transient: true, message: "The server is still computing this configuration; retrying…" });
    return 2500;
  }
  addNotice({ level: "error", field: (isApi && err.field) || null, message: `Could not load the data: ${err.message}` });
  return null;
}
