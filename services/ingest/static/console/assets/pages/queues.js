// /console/queues: each queue's settings (edit, pause, resume), its jobs by status, and throughput and lateness over
// the last hour as far as the API shows them (the runs of the queue's newest jobs: the API has no such figures).
import {enc, get, patch, query} from "../api.js";
import {field, fill, h, text} from "../dom.js";
import {actionButton, badge} from "./common.js";

const STATUSES = ["pending", "processing", "completed", "failed"];
const COUNT_CAP = 100; // a count beyond one page of GET /api/jobs reads "100+"
const SAMPLE = 100;

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

async function counts(name) {
  const found = {};
  await Promise.all(STATUSES.map(async (status) => {
    const page = await get(`/api/jobs${query({queue: name, status, per_page: COUNT_CAP})}`);
    found[status] = page.meta.next_cursor ? `${COUNT_CAP}+` : String(page.data.length);
  }));
  return found;
}

async function lastHour(name) {
  const page = await get(`/api/jobs${query({queue: name, per_page: SAMPLE})}`);
  const since = Date.now() - 3600_000;
  const runs = page.data.flatMap((j) => j.runs.map((r) => ({...r, scheduled_at: j.scheduled_at})))
    .filter((r) => new Date(r.executed_at).getTime() >= since);
  // Lateness: how long after its scheduled second a run started (a retry job's scheduled_at is its retry's); the
  // API writes both in whole seconds, so this is to the second (a job's own page has the milliseconds).
  const late = runs.filter((r) => r.scheduled_at).map((r) => Math.max(0, new Date(r.started_at) - new Date(r.scheduled_at)))
    .sort((a, b) => a - b);
  const pick = (q) => (late.length ? `${Math.round(late[Math.min(late.length - 1, Math.floor(q * late.length))] / 1000)} s` : "—");
  return {
    runs: runs.length,
    perMinute: (runs.length / 60).toFixed(2),
    ok: runs.filter((r) => !r.failure_reason && !r.error_message).length,
    p50: pick(0.5),
    max: pick(1),
  };
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
    h("p", {class: "muted"}, "Counts by status come from GET /api/jobs (one page each: “100+” beyond). Throughput and lateness over the last hour are read from the runs of each queue's 100 newest jobs (lateness: a run's start after its job's scheduled second, to the second); the API offers no queue-wide figures of its own yet."),
    list);

  async function reload() {
    const queues = await allQueues();
    if (!queues.length) {
      fill(list, h("p", {class: "muted"}, "No queues yet: a queue is made by the first job pushed to it."));
      return;
    }
    const cards = await Promise.all(queues.map(async (q) => {
      const [c, hour] = await Promise.all([counts(q.name), lastHour(q.name)]);
      const toggle = actionButton(ctx, q.is_active ? "Pause queue" : "Resume queue", async () => {
        await patch(`/api/queues/${enc(q.name)}`, {is_active: !q.is_active});
        await reload();
        return q.is_active ? `Queue ${q.name} paused.` : `Queue ${q.name} resumed.`;
      });
      const editor = h("details", {}, h("summary", {}, "Edit settings"), editForm(ctx, q, reload));
      return h("section", {class: "card queue", "aria-label": `Queue ${q.name}`, "data-queue": q.name},
        h("h2", {}, q.name, " ", badge(q.is_active ? "active" : "paused")),
        h("table", {class: "kv"}, h("caption", {}, "Jobs by status"),
          h("tbody", {}, STATUSES.map((s) => h("tr", {}, h("th", {scope: "row"}, s), h("td", {class: `count-${s}`}, c[s]))))),
        h("p", {class: "hour"}, `Last hour (runs of its ${SAMPLE} newest jobs): ${hour.runs} runs, ${hour.perMinute}/min, ${hour.ok} succeeded; lateness median ${hour.p50}, max ${hour.max}.`),
        h("p", {class: "muted"}, `Timeout ${q.timeout_seconds} s · retries ${q.retries_enabled ? "on: " + q.retry_delays.join(", ") + " s" : "off"} · parallelism ${text(q.max_parallelism)} · dead letters kept ${q.dlq_retention_days} days`),
        h("div", {class: "actions"}, toggle), editor);
    }));
    fill(list, cards);
  }
  await reload();
}
