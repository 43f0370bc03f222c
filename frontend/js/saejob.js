// Training a learned dictionary and following its job: the table with the link's SAE (looked
// up first, so an untrained one costs no 404, and a job still running for it resumes here),
// the POST that starts training, the polling into the <progress> bar, and the status line.

import { ApiError, fetchSaeTable, fetchTable as fetchPlainTable, tryCall } from "./api.js";
import { poll } from "./jobs.js";
import { parseSae, saeSpec, state, update } from "./state.js";
import { readForm } from "./saeform.js";
import {
  currentJob,
  describe,
  els,
  isRun,
  jobParams,
  missingSae,
  nextRun,
  offline,
  refreshPage,
  rerender,
  saeBasis,
  setJob,
  setMissing,
  setStatus,
  setSweep,
  specLabel,
  sweepState,
} from "./saestate.js";

const POLL_MS = 400;

/**
 * The table for `config`, with state.ui.sae appended when the server has it trained. The SAE
 * is looked up first (GET /api/v1/sae/jobs, always 200), so an untrained one costs no 404; a
 * job still running for it resumes its progress bar here.
 */
export async function fetchTable(config) {
  const spec = state.ui.sae;
  if (!spec || offline()) {
    // A one-file export carries the link's SAE inside its table when it was trained.
    const t = await fetchPlainTable(config);
    const carried = (t.bases || []).some((b) => b.sae);
    setMissing(spec && !carried ? { spec, message: `This file carries no learned dictionaries; open basisgraph to see ${specLabel(parseSae(spec))}.` } : null);
    return t;
  }
  const res = await tryCall(`sae/jobs?${jobParams(spec, config)}`);
  const st = res.ok ? res.body.status : null;
  if (st === "done") {
    try {
      const t = await fetchSaeTable(config, spec);
      setMissing(null);
      return t;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
  }
  const name = specLabel(parseSae(spec));
  if (["queued", "running", "measuring"].includes(st) && !(currentJob() && currentJob().id === res.body.id)) follow(spec, res.body);
  setMissing({
    spec,
    message: !res.ok
      ? `The link's learned dictionary ${name} cannot be shown here (${describe(res.body, res.status)}).`
      : st === "untrained" || st === "failed" || st === "done"
      ? `The link names the learned dictionary ${name}, which this server has not trained for this configuration yet. Press Train to train it.`
      : `${name} is training; it joins the table when it is done.`,
  });
  return fetchPlainTable(config);
}

/** Read the form and start training its SAE; the job is followed into the progress bar. */
export async function train() {
  const s = readForm();
  if (!s) return;
  const spec = saeSpec(s);
  const run = nextRun();
  setJob({ spec, status: "starting", progress: 0 });
  rerender();
  const res = await tryCall(`sae/jobs?${jobParams(spec)}`, "POST");
  if (!isRun(run)) return;
  if (!res.ok) {
    setJob({ spec, status: "failed", progress: 0, error: describe(res.body, res.status) });
    rerender();
    return;
  }
  follow(spec, res.body);
}

/** Poll a job into the progress bar until it ends; then show the SAE as a column. */
async function follow(spec, body) {
  const run = nextRun();
  setJob({ ...body, spec });
  rerender();
  const last = await poll(currentJob(), {
    path: (j) => `sae/jobs/${encodeURIComponent(j.id)}`,
    wanted: () => isRun(run),
    onUpdate: (j) => {
      setJob(j);
      rerender();
    },
    extra: { spec },
    every: POLL_MS,
  });
  if (last && last.status === "done") {
    setSweep({ ...sweepState(), key: null }); // a new SAE: the sweep is out of date
    if (state.ui.sae === spec) refreshPage();
    else update({ ui: { sae: spec, basis: currentJob().basis } }, "push", "sae");
  }
}

/** The progress bar, the Train and Remove buttons and the status line. */
export function renderJob() {
  const j = currentJob();
  const missing = missingSae();
  const running = j && !["done", "failed"].includes(j.status);
  els.progress.hidden = !j;
  els.progressWrap.dataset.status = j ? j.status : "idle";
  if (j) {
    els.progress.value = j.progress || 0;
    els.progress.textContent = `${Math.round(100 * (j.progress || 0))}%`;
  }
  els.train.disabled = Boolean(running) || offline();
  els.remove.hidden = !state.ui.sae;
  const name = j ? specLabel(parseSae(j.spec)) : "";
  if (!j) setStatus(missing ? missing.message : "", missing ? "warn" : "");
  else if (j.status === "starting") setStatus(`Starting ${name}…`);
  else if (j.status === "queued" && !j.queue_position) setStatus(`Starting the training process for ${name}…`);
  else if (j.status === "queued") setStatus(`${name}: waiting for ${j.queue_position} other training job${j.queue_position === 1 ? "" : "s"}…`);
  else if (j.status === "running") setStatus(`Training ${name}: step ${j.step} of ${j.steps}${j.loss != null ? `, loss ${Number(j.loss).toPrecision(3)}` : ""}.`);
  else if (j.status === "measuring") setStatus(`Measuring ${name} on held-out inputs…`);
  else if (j.status === "failed") setStatus(`Training ${name} failed: ${j.error || "unknown error"}`, "error");
  else if (j.status === "done") {
    const shown = saeBasis();
    setStatus(shown && state.ui.sae === j.spec
      ? `${name} is trained${j.metrics && j.metrics.train_s != null ? ` (${j.metrics.train_s} s)` : ""}; it is the column ${shown.id} in the table and a panel below.`
      : `${name} is trained; loading its column…`);
  }
}
