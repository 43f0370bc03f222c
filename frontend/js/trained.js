// The trained model: a small MLP trained to compute the planted circuits, decomposed with
// stochastic parameter decomposition (SPD). See docs/spd.md.
//
// - The "Model" toggle beside the Count toggle switches the table, chart and panels between the
//   planted model and the trained one (state.ui.model, link key model=trained). On the trained
//   model the table has three more columns: mixed (the oracle), hidden (the MLP's neurons) and
//   spd (the subcomponents), and the panels come from /api/v1/trained/graph.
// - The server never trains inside a request: until this configuration's MLP is trained and
//   decomposed, /api/v1/trained/table answers 404. "Train and decompose" POSTs
//   /api/v1/trained/jobs and polls the job (stage, step, progress) into a <progress> bar; when
//   it is done the page reloads the trained table.
// - Once built, the section lists what SPD found: the fit, the read directions recovered, the
//   importance L0 and the faithfulness, all from the table's `readout` block; the circuits
//   recovered (and causal) and missed by name; and how far the edges are from single-node
//   ablations of the MLP (the table's `ablation` block).
// - The "MLP" toggle (shown on the trained model) picks the target: the aligned MLP (one reader
//   unit per circuit) or the superposed one (fewer units than circuits, SPD from random
//   initialisation). Link key target=superposed; every trained request carries it.

import { ApiError, describeError, fetchTrainedTable, setTarget, tryCall } from "./api.js";
import { el } from "./controls.js";
import { inlineData } from "./datasource.js";
import { poll } from "./jobs.js";
import { renderReadout, TARGET_LABELS } from "./trainedreadout.js";
import { configParams, state, subscribe, TARGETS, update } from "./state.js";

const POLL_MS = 500;

let root = null;
let refreshPage = () => {};
const els = {};
let job = null; // the API's job JSON for the current configuration, while it runs or once it ends
let jobRun = 0;
let notBuilt = null; // { message, canBuild }: why the trained table is not shown

const offline = () => Boolean(inlineData()); // a one-file export: no server to build on
const carriesTrained = () => Boolean(inlineData() && inlineData().table.model === "trained");
const jobQuery = (config = state.config) => setTarget(configParams(config, { omit: ["coverage"] })).toString();

/** Whether the page shows the trained model but has no table for it (main.js draws placeholders). */
export function missingMessage() {
  return state.ui.model === "trained" && notBuilt ? notBuilt.message : null;
}

/**
 * The trained table for `config`, or null when it cannot be shown (not built yet, too large, or
 * offline); the reason is kept for the placeholders and this section. The build is looked up
 * first (GET /api/v1/trained/jobs, 200 whatever the answer), so a model that is not built costs
 * no 404; a build already running for this configuration resumes its progress bar.
 */
export async function fetchTable(config) {
  if (offline()) {
    // A one-file export answers from its own data: the trained table if that is what it carries.
    if (carriesTrained()) {
      notBuilt = null;
      return fetchTrainedTable(config);
    }
    notBuilt = { message: "This file carries only the planted model; open basisgraph to see the trained one.", canBuild: false };
    return null;
  }
  const q = jobQuery(config);
  const res = await tryCall(`trained/jobs?${q}`);
  if (res.ok && res.body.status === "done") {
    try {
      const t = await fetchTrainedTable(config);
      notBuilt = null;
      return t;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err; // removed from the cache meanwhile
    }
  }
  if (!res.ok) {
    const why = describeError(res.status, res.body).message;
    notBuilt = { message: `The trained model is not available for this configuration (${why}).`, canBuild: false };
    return null;
  }
  notBuilt = {
    message: "The MLP of this configuration has not been trained and decomposed yet. Press “Train and decompose” in the section “Features from the computation” below.",
    canBuild: true,
  };
  if (["queued", "running", "measuring"].includes(res.body.status)) {
    if (!job || job.id !== res.body.id) follow(res.body, q);
  } else if (!job || job.query !== q) {
    job = null;
  }
  return null;
}

async function build() {
  const run = ++jobRun;
  const q = jobQuery();
  job = { status: "starting", progress: 0, query: q };
  render();
  const res = await tryCall(`trained/jobs?${q}`, "POST");
  if (run !== jobRun) return;
  if (!res.ok) {
    job = { status: "failed", progress: 0, query: q, error: describeError(res.status, res.body).message };
    render();
    return;
  }
  follow(res.body, q);
}

/** Poll a job into the progress bar until it ends; then show the trained model. `q` is the
 * page's own query for the job's configuration (the key this section compares). */
async function follow(body, q) {
  const run = ++jobRun;
  job = { ...body, query: q };
  render();
  const last = await poll(job, {
    path: (j) => `trained/jobs/${encodeURIComponent(j.id)}`,
    wanted: () => run === jobRun,
    onUpdate: (j) => {
      job = j;
      render();
    },
    extra: { query: q },
    every: POLL_MS,
  });
  if (last && last.status === "done" && q === jobQuery()) {
    if (state.ui.model === "trained") refreshPage();
    else update({ ui: { model: "trained" } }, "push", "trained");
  }
}

// ---- rendering ---------------------------------------------------------------------------

function setStatus(text, level = "") {
  els.status.textContent = text;
  els.status.className = `status ${level}`.trim();
}

function renderJob() {
  const j = job && job.query === jobQuery() ? job : null;
  const running = j && !["done", "failed"].includes(j.status);
  const built = state.ui.model === "trained" && state.data.table && state.data.table.model === "trained";
  els.progress.hidden = !running;
  els.jobBox.dataset.status = j ? j.status : built ? "done" : "idle";
  els.jobBox.dataset.stage = (j && j.stage) || "";
  if (j) {
    els.progress.value = j.progress || 0;
    els.progress.textContent = `${Math.round(100 * (j.progress || 0))}%`;
  }
  renderStages(running ? j : null);
  els.build.disabled = Boolean(running) || offline() || built || (notBuilt && !notBuilt.canBuild && state.ui.model === "trained");
  els.build.hidden = built;
  els.jobBox.hidden = Boolean(built); // nothing left to do here: the result below says it all
  if (j && j.status === "starting") setStatus("Starting the build…");
  else if (j && j.status === "queued") setStatus(`Waiting for ${j.queue_position ? `${j.queue_position} other job(s)` : "the training process"}…`);
  else if (j && j.status === "running") {
    const steps = j.steps ? `: step ${j.step ?? 0} of ${j.steps}` : "";
    setStatus(`${j.stage || "Working"}${steps} (stage ${(j.stage_index ?? 0) + 1} of ${j.stages ?? "?"}), ${Math.round(100 * (j.progress || 0))}% overall.`);
  }
  else if (j && j.status === "measuring") setStatus("Reading features off the decomposition…");
  else if (j && j.status === "failed") setStatus(`The build failed: ${j.error || "unknown error"}`, "error");
  else if (j && j.status === "done" && !built) setStatus(state.ui.model === "trained" ? "Trained and decomposed; loading the table…" : "Trained and decomposed.");
  else if (built) setStatus("");
  else if (notBuilt && state.ui.model === "trained") setStatus(notBuilt.message, notBuilt.canBuild ? "warn" : "error");
  else setStatus(offline() ? "This file carries only the planted model." : "");
}

/** The build's stages in order, each marked done, running (with its step) or waiting. */
function renderStages(j) {
  const names = (j && j.stage_names) || [];
  els.stages.hidden = !names.length;
  els.stages.replaceChildren();
  const at = j && j.stage !== "loading" ? j.stage_index ?? 0 : -1;
  names.forEach((name, i) => {
    const status = i < at ? "done" : i === at ? "running" : "waiting";
    const steps = i === at && j.steps ? ` (${j.step ?? 0} / ${j.steps})` : "";
    const li = el("li", { text: `${name}: ${status}${steps}` });
    li.dataset.status = status;
    els.stages.append(li);
  });
}

function renderResult() {
  const t = state.data.table;
  renderReadout(els.result, t && t.model === "trained" && state.ui.model === "trained" ? t : null);
}

function renderToggle() {
  for (const m of ["planted", "trained"]) els[`model_${m}`].checked = state.ui.model === m;
  for (const t of TARGETS) els[`target_${t}`].checked = state.ui.target === t;
  // The target only means something on the trained model; a one-file export carries one.
  els.targetBox.hidden = state.ui.model !== "trained";
  for (const t of TARGETS) els[`target_${t}`].disabled = offline() && state.ui.target !== t;
  // A one-file export carries one model: the other choice has nothing to show.
  els.model_trained.disabled = offline() && !carriesTrained();
  els.model_planted.disabled = carriesTrained();
}

export function render() {
  if (!root) return;
  renderToggle();
  renderJob();
  renderResult();
}

function buildToggle(box) {
  const fs = el("fieldset", { className: "segmented" }, el("legend", { text: "Model" }));
  for (const [value, label] of [["planted", "Planted"], ["trained", "Trained (SPD)"]]) {
    const id = `model-${value}`;
    const input = el("input", { type: "radio", name: "model", id, value });
    input.addEventListener("change", () => {
      if (input.checked) update({ ui: { model: value, basis: null, node: null } }, "push", "controls");
    });
    els[`model_${value}`] = input;
    fs.append(input, el("label", { for: id, text: label }));
  }
  const tf = el("fieldset", { className: "segmented target" }, el("legend", { text: "MLP" }));
  for (const value of TARGETS) {
    const id = `target-${value}`;
    const input = el("input", { type: "radio", name: "target", id, value });
    input.addEventListener("change", () => {
      if (input.checked) update({ ui: { target: value, basis: null, node: null } }, "push", "controls");
    });
    els[`target_${value}`] = input;
    tf.append(input, el("label", { for: id, text: TARGET_LABELS[value], title: value === "superposed"
      ? "fewer hidden units than circuits: no neuron is one circuit's reader; SPD starts from random"
      : "one hidden unit per reader; SPD starts from the neurons" }));
  }
  els.targetBox = tf;
  box.append(fs, tf);
}

export function init(section, toggleBox, { refresh } = {}) {
  root = section;
  if (refresh) refreshPage = refresh;
  buildToggle(toggleBox);
  els.jobBox = root.querySelector(".trained-job");
  els.build = root.querySelector(".trained-job button.run");
  els.progress = root.querySelector(".trained-job progress");
  els.status = root.querySelector(".trained-job .status");
  els.stages = el("ol", { className: "trained-stages" });
  els.stages.hidden = true;
  els.status.after(els.stages);
  els.result = root.querySelector(".trained-result");
  els.build.addEventListener("click", build);
  if (offline()) els.build.title = "The trained model needs the server: open basisgraph to build it";
  subscribe(() => queueMicrotask(render));
  render();
}
