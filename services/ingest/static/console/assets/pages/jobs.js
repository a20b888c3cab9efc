// /console/: jobs of both APIs. Recuro queue jobs page by cursor (GET /api/jobs, every filter applied by the server:
// queue, status, URL, creation time); QuedUp jobs by offset (GET /jobs: its filters apply to the page shown).
import {enc, get, query} from "../api.js";
import {field, fill, h, select, text, time} from "../dom.js";
import {POLL_MS, badge, cell, jobLink, liveNote} from "./common.js";

const RECURO_STATUSES = [["", "Any status"], ["pending", "pending"], ["processing", "processing"], ["completed", "completed"], ["failed", "failed"]];
const QUEDUP_STATUSES = [["", "Any status"], ["active", "active"], ["paused", "paused"], ["completed", "completed"], ["failed", "failed"]];
const QUEDUP_PAGE = 50;

// Kept while the tab lives, so coming back from a job keeps the filters; also in the address (?queue=&status=…), so
// a filtered view can be linked to (/console/?queue=emails&status=failed).
const state = {api: "recuro", queue: "", status: "", name: "", from: "", to: "", cursor: null, offset: 0};
const IN_ADDRESS = ["api", "queue", "status", "name", "from", "to"];

function readAddress() {
  const params = new URLSearchParams(location.search);
  if (![...params.keys()].length) return;
  for (const key of IN_ADDRESS) state[key] = params.get(key) || "";
  if (state.api !== "quedup") state.api = "recuro";
  state.cursor = null;
  state.offset = 0;
}

function writeAddress() {
  const params = new URLSearchParams();
  for (const key of IN_ADDRESS) if (state[key] && !(key === "api" && state[key] === "recuro")) params.set(key, state[key]);
  const search = params.toString();
  history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
}

export async function jobsPage(ctx) {
  readAddress();
  writeAddress();
  const live = liveNote(ctx);
  const apiSelect = select("api", [["recuro", "Recuro queue jobs"], ["quedup", "QuedUp jobs"]], state.api);
  const queue = h("input", {name: "queue", value: state.queue, autocomplete: "off"});
  const statusSelect = h("select", {name: "status"});
  const name = h("input", {name: "name", value: state.name, autocomplete: "off"});
  const from = h("input", {name: "from", type: "datetime-local", value: state.from});
  const to = h("input", {name: "to", type: "datetime-local", value: state.to});
  const setStatuses = () => {
    const options = apiSelect.value === "recuro" ? RECURO_STATUSES : QUEDUP_STATUSES;
    fill(statusSelect, options.map(([v, l]) => h("option", {value: v, selected: v === state.status}, l)));
    queue.disabled = apiSelect.value !== "recuro";
  };
  setStatuses();
  apiSelect.addEventListener("change", () => {
    state.status = "";
    setStatuses();
  });

  const filters = h("form", {class: "filters", role: "search", "aria-label": "Filter jobs", onsubmit: (e) => {
    e.preventDefault();
    Object.assign(state, {api: apiSelect.value, queue: queue.value.trim(), status: statusSelect.value,
      name: name.value.trim(), from: from.value, to: to.value, cursor: null, offset: 0});
    writeAddress();
    load();
  }},
  field("API", apiSelect), field("Queue", queue, "Recuro only"), field("Status", statusSelect),
  field("URL contains (QuedUp: name or URL)", name), field("Created from", from), field("Created until", to),
  h("button", {type: "submit"}, "Apply filters"));

  const idInput = h("input", {name: "id", autocomplete: "off", required: true, placeholder: "244862754729984 or job_…"});
  const byId = h("form", {class: "by-id", role: "search", "aria-label": "Open a job by id", onsubmit: (e) => {
    e.preventDefault();
    const id = idInput.value.trim();
    if (id) ctx.navigate(`/console/jobs/${enc(id)}`);
  }}, field("Job id", idInput), h("button", {type: "submit"}, "Open job"));

  const table = h("table", {class: "list", id: "jobs-table"});
  const pager = h("nav", {class: "pager", "aria-label": "Pages of jobs"});
  fill(ctx.main, h("h1", {}, "Jobs"), byId, filters, live.note, h("div", {class: "scroll"}, table), pager);

  async function load() {
    try {
      if (state.api === "recuro") await loadRecuro();
      else await loadQuedup();
      live.touch();
    } catch (err) {
      ctx.say(String(err.message || err), "error");
    }
  }

  // The address keeps the inputs' local times; the API is sent instants. "Created until 14:10" takes in that whole
  // minute: the API's created_before is exclusive.
  const instant = (local, plusMs = 0) => (local ? new Date(new Date(local).getTime() + plusMs).toISOString() : "");

  function inTime(iso) {
    if (!iso) return !state.from && !state.to;
    const at = new Date(iso).getTime();
    if (state.from && at < new Date(state.from).getTime()) return false;
    if (state.to && at > new Date(state.to).getTime()) return false;
    return true;
  }

  async function loadRecuro() {
    const page = await get(`/api/jobs${query({per_page: 25, queue: state.queue, status: state.status, url: state.name,
      created_after: instant(state.from), created_before: instant(state.to, 60_000), cursor: state.cursor})}`);
    const rows = page.data;
    fill(table, h("caption", {}, "Recuro queue jobs, newest first"),
      h("thead", {}, h("tr", {}, ["Id", "Queue", "Status", "Final status", "Attempt", "Method", "URL", "Created"].map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, rows.length ? rows.map((j) => h("tr", {},
        cell("Id", jobLink(j.id)), cell("Queue", text(j.queue)), cell("Status", badge(j.status)),
        cell("Final status", badge(j.final_status)), cell("Attempt", String(j.attempt_number)), cell("Method", j.method),
        cell("URL", j.url, "url"), cell("Created", time(j.created_at)),
      )) : h("tr", {}, h("td", {colspan: 8, class: "muted"}, "No jobs match."))));
    fill(pager,
      pageButton("Newer", page.meta.prev_cursor, () => { state.cursor = page.meta.prev_cursor; load(); }),
      pageButton("Older", page.meta.next_cursor, () => { state.cursor = page.meta.next_cursor; load(); }));
  }

  async function loadQuedup() {
    const jobs = await get(`/jobs${query({limit: QUEDUP_PAGE, offset: state.offset})}`);
    const needle = state.name.toLowerCase();
    const rows = jobs.filter((j) => (!state.status || j.status === state.status)
      && (!needle || j.name.toLowerCase().includes(needle) || j.url.toLowerCase().includes(needle))
      && (!(state.from || state.to) || inTime(j.next_run_at)));
    fill(table, h("caption", {}, "QuedUp jobs, oldest first (the time filter reads the next run)"),
      h("thead", {}, h("tr", {}, ["Id", "Name", "Status", "Schedule", "Method", "URL", "Next run"].map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, rows.length ? rows.map((j) => h("tr", {},
        cell("Id", jobLink(j.id)), cell("Name", j.name), cell("Status", badge(j.status)), cell("Schedule", text(j.schedule)),
        cell("Method", j.method), cell("URL", j.url, "url"), cell("Next run", time(j.next_run_at)),
      )) : h("tr", {}, h("td", {colspan: 7, class: "muted"}, "No jobs match."))));
    fill(pager,
      pageButton("Previous", state.offset > 0, () => { state.offset = Math.max(0, state.offset - QUEDUP_PAGE); load(); }),
      pageButton("Next", jobs.length === QUEDUP_PAGE, () => { state.offset += QUEDUP_PAGE; load(); }));
  }

  function pageButton(label, enabled, go) {
    return h("button", {type: "button", disabled: !enabled, onclick: go}, label);
  }

  await load();
  ctx.every(POLL_MS, load);
}
