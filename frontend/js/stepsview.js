// The guided path's DOM: the count sentence and one button per story step (story.js computes
// which cells each step marks and its takeaway). A step's button asks, through update(), for the
// step's node set and circuit; the table and the bars mark the step's cells.

import { countSentence, steps } from "./story.js";
import { state, update } from "./state.js";

/** Render the sentence under the Count toggle, the step buttons and the current takeaway. */
export function render({ sentence, nav, text }) {
  const t = state.data.table;
  if (!t) return;
  sentence.textContent = countSentence(t, state.ui.view);
  const list = steps(t, state.ui.view);
  nav.hidden = list.length === 0;
  nav.replaceChildren(
    ...list.map((s, i) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "step";
      b.dataset.step = s.id;
      b.setAttribute("aria-pressed", state.ui.step === s.id ? "true" : "false");
      b.textContent = `${i + 1}. ${s.title}`;
      b.addEventListener("click", () =>
        update({ ui: { step: state.ui.step === s.id ? null : s.id, basis: s.basis, circuit: s.circuit, node: null } }, "push", "steps"),
      );
      return b;
    }),
  );
  const current = list.find((s) => s.id === state.ui.step);
  text.textContent = current ? current.text : list.length ? "Pick a step to see which cells make the point." : "";
  text.dataset.step = current ? current.id : "";
}
