// /console/queues: each queue's settings (edit, pause, resume), its jobs by status (exact) and its runs over the
// last hour: one GET /api/queues/{name}/stats per queue.
import {enc, get, patch} from "../api.js";
import {field, fill, h, text} from "../dom.js";
import {actionButton, badge} from "./common.js";

const STATUSES = ["pending", "processing", "completed", "failed"];
const WINDOW_S = 3600;

async function allQueues() {
  const queues = [];
  let url = "/api/queues?per_page=100";
  for (let i = 0; url && i < 20; i++) {
    const page = await get(url);
    queues.push(...page.data);
    url = page.links.next;
  }
  return queues;
}

const ms = (value) => (value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`);

function hourLine(stats) {
  const late = stats.lateness;
  const lateness = late ? `lateness p50 ${ms(late.p50_ms)}, p95 ${ms(late.p95_ms)}, max ${ms(late.max_ms)}` : "no lateness to show";
  return `Last hour: ${stats.runs} runs, ${stats.runs_per_minute.toFixed(2)}/min, ${stats.successes} succeeded, ${stats.failures} failed; ${lateness}.`;
}

function editForm(ctx, q, reload) {
  const timeout = h("input", {type: "number", min: 1, name: "timeout_seconds", value: q.timeout_seconds});
  const delays = h("input", {name: "retry_delays", value: q.retry_delays.join(", "), inputmode: "numeric"});
  const retries = h("input", {type: "checkbox", name: "retries_enabled", checked: q.retries_enabled});
  const parallel = h("input", {type: "number", min: 1, name: "max_parallelism", value: q.max_parallelism ?? ""});
  const retention = h("input", {type: "number", min: 1, name: "dlq_retention_days", value: q.dlq_retention_days});
  const alerts = h("input", {type: "checkbox", name: "alerts_enabled", checked: q.alerts_enabled});
  const form = h("form", {class: "edit", "aria-label": `Settings of queue ${q.name}`, onsubmit: async (e) => {
    e.preventDefault();
    const body = {
      timeout_seconds: Number(timeout.value),
      retry_delays: delays.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number),
      retries_enabled: retries.checked,
      max_parallelism: parallel.value === "" ? null : Number(parallel.value),
      dlq_retention_days: Number(retention.value),
      alerts_enabled: alerts.checked,
    };
    try {
      await patch(`/api/queues/${enc(q.name)}`, body);
      ctx.say(`Queue ${q.name} saved.`, "ok");
      await reload();
    } catch (err) {
      ctx.say(String(err.message || err), "error");
    }
  }},
  field("Timeout (seconds)", timeout), field("Retry delays (seconds, comma-separated)", delays),
  field("Retries enabled", retries), field("Max parallelism (empty: unlimited)", parallel),
  field("Dead-letter retention (days)", retention), field("Alerts enabled", alerts),
  h("button", {type: "submit"}, "Save settings"));
  return form;
}

export async function queuesPage(ctx) {
  const list = h("div", {id: "queues"});
  fill(ctx.main, h("h1", {}, "Queues"),
    h("p", {class: "muted"}, "Counts by status are exact; the last hour counts every run of the queue's jobs (lateness: how long after it was due a run started, to the millisecond). From GET /api/queues/{name}/stats."),
    list);

  async function reload() {
    const queues = await allQueues();
    if (!queues.length) {
      fill(list, h("p", {class: "muted"}, "No queues yet: a queue is made by the first job pushed to it."));
      return;
    }
    const cards = await Promise.all(queues.map(async (q) => {
      const stats = await get(`/api/queues/${enc(q.name)}/stats?window_s=${WINDOW_S}`);
      const c = stats.counts;
      const toggle = actionButton(ctx, q.is_active ? "Pause queue" : "Resume queue", async () => {
        await patch(`/api/queues/${enc(q.name)}`, {is_active: !q.is_active});
        await reload();
        return q.is_active ? `Queue ${q.name} paused.` : `Queue ${q.name} resumed.`;
      });
      const editor = h("details", {}, h("summary", {}, "Edit settings"), editForm(ctx, q, reload));
      return h("section", {class: "card queue", "aria-label": `Queue ${q.name}`, "data-queue": q.name},
        h("h2", {}, q.name, " ", badge(q.is_active ? "active" : "paused")),
        h("table", {class: "kv"}, h("caption", {}, "Jobs by status"),
          h("tbody", {}, STATUSES.map((s) => h("tr", {}, h("th", {scope: "row"}, s), h("td", {class: `count-${s}`}, String(c[s]))))),
          h("tfoot", {}, h("tr", {}, h("th", {scope: "row"}, "total"), h("td", {class: "count-total"}, String(c.total))))),
        h("p", {class: "hour"}, hourLine(stats)),
        h("p", {class: "muted"}, `Timeout ${q.timeout_seconds} s · retries ${q.retries_enabled ? "on: " + q.retry_delays.join(", ") + " s" : "off"} · parallelism ${text(q.max_parallelism)} · dead letters kept ${q.dlq_retention_days} days`),
        h("div", {class: "actions"}, toggle), editor);
    }));
    fill(list, cards);
  }
  await reload();
}
