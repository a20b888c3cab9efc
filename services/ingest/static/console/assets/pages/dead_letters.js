// /console/dead-letters: filter by queue, replay one or many, purge a queue's.
import {del, get, post, query} from "../api.js";
import {field, fill, h, text, time} from "../dom.js";
import {actionButton, cell, jobLink} from "./common.js";

let queueFilter = "";

export async function deadLettersPage(ctx) {
  const queue = h("input", {name: "queue", value: queueFilter, autocomplete: "off"});
  const table = h("table", {class: "list", id: "dead-letters"});
  const tools = h("div", {class: "actions", role: "group", "aria-label": "Bulk actions"});
  const outcome = h("div", {id: "replayed", "aria-live": "polite"});
  let letters = [];
  let page = 1;
  const pager = h("nav", {class: "pager", "aria-label": "Pages of dead letters"});

  const filter = h("form", {class: "filters", role: "search", "aria-label": "Filter dead letters", onsubmit: (e) => {
    e.preventDefault();
    queueFilter = queue.value.trim();
    page = 1;
    load();
  }}, field("Queue", queue), h("button", {type: "submit"}, "Filter"));
  fill(ctx.main, h("h1", {}, "Dead letters"), filter, tools, outcome, h("div", {class: "scroll"}, table), pager);

  function replayed(jobs) {
    fill(outcome, jobs.length ? h("p", {}, "Replayed as: ", jobs.map((j, i) => [i ? ", " : "", jobLink(j.job_id)])) : null);
  }

  function selected() {
    return [...table.querySelectorAll("input[type=checkbox][data-id]:checked")].map((c) => Number(c.dataset.id));
  }

  async function load() {
    const result = await get(`/api/dead-letters${query({queue: queueFilter, page, per_page: 25})}`);
    letters = result.data;
    fill(table, h("caption", {}, "Dead letters, newest first"),
      h("thead", {}, h("tr", {}, h("th", {scope: "col"}, h("span", {class: "sr"}, "Select")),
        ["Job", "Queue", "URL", "Attempts", "Dead-lettered", "Last failure", "Actions"].map((c) => h("th", {scope: "col"}, c)))),
      h("tbody", {}, letters.length ? letters.map((d) => h("tr", {},
        cell("Select", h("input", {type: "checkbox", "data-id": d.job_id, "aria-label": `Select dead letter ${d.job_id}`})),
        cell("Job", jobLink(d.job_id)), cell("Queue", d.queue), cell("URL", `${d.method} ${d.url}`, "url"),
        cell("Attempts", String(d.attempts)), cell("Dead-lettered", time(d.dead_lettered_at)),
        cell("Last failure", d.last_failure ? `${text(d.last_failure.response_status)} ${d.last_failure.failure_reason || ""}` : "—"),
        cell("Actions", actionButton(ctx, "Replay", async () => {
          const r = await post(`/api/dead-letters/${d.job_id}/replay`);
          replayed([r]);
          await load();
          return `Dead letter ${d.job_id} replayed as job ${r.job_id}.`;
        })))) : h("tr", {}, h("td", {colspan: 8, class: "muted"}, "No dead letters."))));
    fill(pager,
      h("button", {type: "button", disabled: page <= 1, onclick: () => { page -= 1; load(); }}, "Newer"),
      h("span", {}, ` Page ${result.meta.current_page} of ${result.meta.last_page} (${result.meta.total}) `),
      h("button", {type: "button", disabled: page >= result.meta.last_page, onclick: () => { page += 1; load(); }}, "Older"));
  }

  fill(tools,
    actionButton(ctx, "Replay selected", async () => {
      const ids = selected();
      if (!ids.length) return "Select dead letters first.";
      const r = await post("/api/dead-letters/replay", {job_ids: ids});
      replayed(r.jobs);
      await load();
      return `Replayed ${r.count}; skipped ${r.skipped.length}.`;
    }),
    actionButton(ctx, "Purge this queue's dead letters", async () => {
      if (!queueFilter) return "Filter by a queue first: purging is per queue.";
      const r = await del(`/api/dead-letters${query({queue: queueFilter})}`);
      await load();
      return `Purged ${r.purged}; ${r.remaining} remain.`;
    }, {confirm: "Purge every dead letter of the filtered queue? This cannot be undone.", danger: true}));
  await load();
}
