// The console's shell: log in, route on the path, run one page at a time (each may poll; stopped when it is left).
import {ROOT, clearToken, setToken, token, whenUnauthorized} from "./api.js";
import {fill, h, field} from "./dom.js";
import {jobsPage} from "./pages/jobs.js";
import {jobPage} from "./pages/job.js";
import {queuesPage} from "./pages/queues.js";
import {cronsPage} from "./pages/crons.js";
import {deadLettersPage} from "./pages/dead_letters.js";
import {settingsPage} from "./pages/settings.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const statusLine = document.getElementById("status");
let leave = null; // the current page's cleanup (its poller)

/** Say something in the status line (read out by screen readers). */
export function say(message, kind = "info") {
  statusLine.textContent = message;
  statusLine.className = `status ${kind}`;
}

export function navigate(path) {
  history.pushState(null, "", ROOT + path);
  render();
}

const ROUTES = [
  [/^\/console\/?$/, () => jobsPage],
  [/^\/console\/jobs\/([^/]+)$/, (m) => (ctx) => jobPage(ctx, decodeURIComponent(m[1]))],
  [/^\/console\/queues$/, () => queuesPage],
  [/^\/console\/crons$/, () => cronsPage],
  [/^\/console\/dead-letters$/, () => deadLettersPage],
  [/^\/console\/settings$/, () => settingsPage],
];

function route() {
  const path = location.pathname.slice(ROOT.length);
  for (const [pattern, page] of ROUTES) {
    const m = pattern.exec(path);
    if (m) return page(m);
  }
  return (ctx) => fill(ctx.main, h("h1", {}, "Not found"), h("p", {}, "No console page at this address."));
}

function loginFromFragment() {
  // A #token=… fragment logs in (scripts, links): it never reaches the server; dropped from the address at once.
  const m = /^#token=(.+)$/.exec(location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function loginForm() {
  const input = h("input", {type: "password", name: "token", autocomplete: "off", required: true, spellcheck: "false"});
  const form = h("form", {class: "login", onsubmit: (e) => {
    e.preventDefault();
    setToken(input.value);
    render();
  }},
  h("h1", {}, "Log in"),
  h("p", {}, "Paste an API token (", h("code", {}, "chronohook tokens create --tenant NAME"),
    "). It is kept in this tab only (sessionStorage) and sent to this server's API only."),
  field("API token", input),
  h("button", {type: "submit"}, "Log in"));
  fill(main, form);
  input.focus();
}

export function render() {
  if (leave) leave();
  leave = null;
  say("");
  if (!token()) {
    nav.hidden = true;
    loginForm();
    return;
  }
  nav.hidden = false;
  const here = location.pathname;
  for (const a of nav.querySelectorAll("a")) {
    const current = a.getAttribute("href") === here || (a.getAttribute("href") === `${ROOT}/console/` && here.startsWith(`${ROOT}/console/jobs/`));
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.replaceChildren();
  const timers = [];
  const ctx = {
    main,
    say,
    navigate,
    // Poll `fn` every `ms` while the page is shown and the tab visible.
    every(ms, fn) {
      timers.push(setInterval(() => {
        if (document.visibilityState === "visible") fn();
      }, ms));
    },
  };
  leave = () => timers.forEach(clearInterval);
  Promise.resolve(route()(ctx)).catch((err) => say(String(err.message || err), "error"));
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a[data-nav]");
  if (!a || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  render();
  main.focus();
});
window.addEventListener("popstate", render);
window.addEventListener("hashchange", () => {
  loginFromFragment();
  render();
});
document.getElementById("logout").addEventListener("click", () => {
  clearToken();
  render();
});
whenUnauthorized(() => {
  clearToken();
  render();
  say("The token was refused (401): log in again.", "error");
});

loginFromFragment();
render();
