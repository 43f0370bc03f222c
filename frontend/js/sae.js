// Learned dictionaries: train an SAE on the server and show it beside the planted node sets.
// This module wires the card together and is what main.js calls; the work is in
//   saeform.js     the form (kind, width, sparsity, steps, seed) and its range checks
//   saejob.js      the table with the link's SAE, training, job polling, the status line
//   saemetrics.js  the trained SAE's header and metrics
//   saesweep.js    the width × sparsity sweep figure and its verdict
//   saestate.js    the card's one place of module-level state, and shared helpers
//   learned.js     each circuit read over the SAE's atoms beside the oracle
// Imports point one way: sae -> job -> form -> saestate; sae -> metrics, sweep -> saestate.
//
// - The form picks kind, width, sparsity (L1 λ or k), steps and seed. Train POSTs
//   /api/v1/sae/jobs; the server trains in a background process and the page polls
//   /api/v1/sae/jobs/{id} into a <progress> bar. A cached SAE answers "done" at once.
// - Once trained, the SAE is state.ui.sae (link key `sae`, e.g. sae=relu:1050): the table then
//   comes from /api/v1/sae/table, so the SAE is one more column (data-basis="sae:relu:1050"),
//   one more bar and one more panel, and its metrics are listed here; below them, learned.js
//   reads each circuit over the SAE's atoms beside the oracle.
// - The sweep plots width × sparsity against the edge counts per family for every SAE of this
//   configuration the server has trained (GET /api/v1/sae/sweep), with the planted animal
//   dictionary and attribute basis as dashed references.

import * as learned from "./learned.js";
import { subscribe } from "./state.js";
import { buildForm, syncForm } from "./saeform.js";
import { fetchTable as fetchWithSae, renderJob, train } from "./saejob.js";
import { renderMetrics } from "./saemetrics.js";
import { initSweep, renderSweepIfAsked } from "./saesweep.js";
import { els, offline, setHooks } from "./saestate.js";

let root = null;

/**
 * The table for `config`, with state.ui.sae appended when the server has it trained (main.js
 * calls this instead of api.fetchTable; see saejob.js).
 */
export function fetchTable(config) {
  return fetchWithSae(config);
}

/** Redraw the whole card from state. */
export function render() {
  if (!root) return;
  syncForm();
  renderJob();
  renderMetrics();
  learned.render();
  renderSweepIfAsked();
}

/** Build the card inside `el_`; `refresh` refetches the page (after a job for the shown SAE). */
export function init(el_, { refresh } = {}) {
  root = el_;
  setHooks({ render, ...(refresh ? { refresh } : {}) });
  buildForm(root.querySelector("form.sae-form"), train);
  els.progressWrap = root.querySelector(".sae-job");
  els.progress = root.querySelector("progress");
  els.status = root.querySelector(".sae-job .status");
  els.metrics = root.querySelector(".sae-result");
  learned.init(root.querySelector(".sae-learned"));
  initSweep(root.querySelector(".sae-sweep"));
  if (offline()) {
    for (const b of [els.train, els.sweepButton]) {
      b.disabled = true;
      b.title = "Learned dictionaries need the server: open basisgraph to train one";
    }
  }
  subscribe(() => queueMicrotask(render));
  render();
}
