// Background jobs on the server (SAE training, the trained model's build): the polling loop
// that saejob.js and trained.js share. Requests go through api.js's one client, uncached.

import { call, describeError } from "./api.js";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `job` at `path(job)` every `every` ms until it is done or failed, calling onUpdate(job)
 * after each answer; `extra` fields are kept on every update, and progress never goes down.
 * Returns the last job, or null as soon as wanted() turns false (a newer job took over).
 */
export async function poll(job, { path, wanted, onUpdate, extra = {}, every = 400 }) {
  while (job.status !== "done" && job.status !== "failed") {
    await sleep(every);
    if (!wanted()) return null;
    let res;
    try {
      res = await call(path(job));
    } catch (_) {
      continue; // a dropped poll: ask again
    }
    if (!wanted()) return null;
    if (!res.ok && res.status !== 202) job = { ...job, status: "failed", error: describeError(res.status, res.body).message };
    else job = { ...res.body, ...extra, progress: Math.max(job.progress || 0, res.body.progress || 0) };
    onUpdate(job);
  }
  return job;
}
