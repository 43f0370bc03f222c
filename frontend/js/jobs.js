// Background jobs on the server (SAE training, the trained model's build): the request helper
// and the polling loop that sae.js and trained.js share. Job answers are never cached here:
// their point is to change.

import { describeError } from "./api.js";

const API = new URL("../../api/v1/", import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** {status, ok, body} of one request to `path` under /api/v1 (body null when not JSON). A POST
 * starts a job: the server takes only a JSON body (so no other site's form can start one). */
export async function call(path, method = "GET") {
  const init = { method, credentials: "omit", cache: "no-store", headers: { Accept: "application/json" } };
  if (method === "POST") Object.assign(init, { body: "{}", headers: { ...init.headers, "Content-Type": "application/json" } });
  const r = await fetch(new URL(path, API), init);
  let body = null;
  try {
    body = await r.json();
  } catch (_) {
    body = null;
  }
  return { status: r.status, ok: r.ok, body };
}

/** {status, ok, body} like `call`, with a network failure as status 0 and a detail to show. */
export async function tryCall(path, method = "GET") {
  try {
    return await call(path, method);
  } catch (_) {
    return { ok: false, status: 0, body: { detail: "the server could not be reached" } };
  }
}

/**
 * Poll `job` at `path(job)` every `every` ms until it is done or failed, calling onUpdate(job)
 * after each answer; `extra` fields are kept on every update, and progress never goes down.
 * Returns the last job, or null as soon as wanted() turns false (a newer job took over).
 */
export async function poll(job, { path, wanted, onUpdate, extra = {}, every = 400 }) {
  while (!["done", "failed", "cancelled"].includes(job.status)) {
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
