// A figure computed on request rather than on every change, because it costs one table per
// point: a "Compute" button, one fetch per configuration (keyed without the field the figure
// varies), a few retries while the server is busy (503), a status line, and data-state
// idle | loading | drawn on the card (what the browser tests wait for). The alpha sweep
// (sweep.js) and the samples sweep (samplesweep.js) are two of these.

import d3 from "./d3.js";
import { ApiError } from "./api.js";
import { configParams, state, subscribe } from "./state.js";

/**
 * One on-demand figure. `varies`: the config key the figure sweeps; `fetch(config)`: its data;
 * `draw(figure, data)`: draws it and answers the status line; `visible()`: whether the card
 * shows at all; `loading` and `failed`: status texts; `retries`: how often a 503 is retried.
 * Returns { init(card), render() }.
 */
export function onDemand({ varies, fetch, draw, visible = () => true, loading, failed, retries = 0, retryMs = 3000 }) {
  let root = null;
  let loaded = null; // { key, data }
  let pending = null; // the key being fetched
  // The varied key is what the figure spans, so it is not part of what the figure depends on.
  const keyNow = () => configParams(state.config, { omit: [varies] }).toString();
  const status = (text) => { root.querySelector(".status").textContent = text; };

  async function load() {
    const key = keyNow();
    pending = key;
    render();
    try {
      let data = null;
      for (let attempt = 0; data === null; attempt++) {
        try {
          data = await fetch(state.config);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 503 && attempt < retries)) throw err;
          status("The server is busy; asking again…");
          await new Promise((r) => setTimeout(r, retryMs));
        }
      }
      if (pending === key) loaded = { key, data };
    } catch (err) {
      pending = null;
      render();
      status(`${failed}: ${err.message}`);
      return;
    }
    pending = null;
    render();
  }

  function render() {
    if (!root) return;
    const fig = root.querySelector("figure");
    const fresh = loaded && loaded.key === keyNow();
    root.hidden = !visible();
    root.querySelector("button.run").hidden = Boolean(fresh) || pending === keyNow();
    root.dataset.state = fresh ? "drawn" : pending ? "loading" : "idle";
    if (!fresh) {
      d3.select(fig).selectAll("svg, p.sweep-legend").remove(); // the legend belongs to the drawing
      status(pending ? loading : "");
      return;
    }
    status(draw(fig, loaded.data) || "");
  }

  function init(card) {
    root = card;
    root.querySelector("button.run").addEventListener("click", load);
    subscribe(() => queueMicrotask(render));
    render();
  }

  return { init, render };
}
