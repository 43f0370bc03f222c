// Notices: short messages to the reader, e.g. a link value that was invalid and fell back to
// its default, or an API error. Rendered from state.notices; text only, never markup.

import { state } from "./state.js";

export function render(root, onDismiss) {
  root.replaceChildren();
  state.notices.forEach((n, i) => {
    const div = document.createElement("div");
    div.className = `notice ${n.level || "warning"}`;
    if (n.field) div.dataset.field = n.field;
    const text = document.createElement("span");
    text.textContent = n.message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "dismiss";
    close.setAttribute("aria-label", "Dismiss this notice");
    close.textContent = "×";
    close.addEventListener("click", () => onDismiss(i));
    div.append(text, close);
    root.appendChild(div);
  });
}
