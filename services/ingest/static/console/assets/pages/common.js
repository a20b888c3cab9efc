// Pieces the pages share.
import {ROOT} from "../api.js";
import {h} from "../dom.js";

export const POLL_MS = 3000; // live pages (jobs, job) poll the API this often while visible

/** A link to a console page (client-side navigation). */
export function navLink(path, label) {
  return h("a", {href: ROOT + path, "data-nav": true}, label);
}

export function jobLink(id) {
  return navLink(`/console/jobs/${encodeURIComponent(String(id))}`, String(id));
}

/** A table cell; on a narrow screen a list's rows become cards, each cell under its label (style.css). */
export function cell(label, content, kind) {
  return h("td", {"data-label": label, class: kind || null}, content);
}

/** A status as a badge (text only; the class comes from a fixed list). */
const KNOWN = new Set(["pending", "processing", "completed", "failed", "active", "paused", "success", "dead_lettered",
  "retrying", "failed_with_retries", "failed_no_retries"]);
export function badge(value) {
  if (value === null || value === undefined) return h("span", {class: "muted"}, "—");
  const kind = KNOWN.has(value) ? value : "other";
  return h("span", {class: `badge b-${kind}`}, String(value));
}

/** A button that runs `action`, disabled while it runs, and reports its outcome. */
export function actionButton(ctx, label, action, {confirm: question, danger} = {}) {
  const button = h("button", {type: "button", class: danger ? "danger" : null});
  button.textContent = label;
  button.addEventListener("click", async () => {
    if (question && !window.confirm(question)) return;
    button.disabled = true;
    try {
      const said = await action();
      if (said) ctx.say(said, "ok");
    } catch (err) {
      ctx.say(String(err.message || err), "error");
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function liveNote(ctx) {
  const note = h("p", {class: "live muted", "aria-live": "off"}, `Live: refreshed every ${POLL_MS / 1000} s (polling).`);
  return {
    note,
    touch() {
      note.textContent = `Live: refreshed every ${POLL_MS / 1000} s (polling); last at ${new Date().toLocaleTimeString()}.`;
    },
  };
}
