// /console/jobs/{id}: one job (a Recuro job or cron by its integer id, a QuedUp job by its job_… id): what it is, its
// signature headers, its timeline from the event history, and the actions its API offers. Polls while shown.
import {ApiError, del, enc, get, patch, post} from "../api.js";
import {details, fill, h, headersTable, text, time} from "../dom.js";
import {POLL_MS, actionButton, badge, jobLink, liveNote, navLink} from "./common.js";

const SIGNATURE = /^(webhook-(id|timestamp|signature)|x-recuro-(timestamp|signature))$/i;
const MAX_EVENT_PAGES = 20;

/** What to call the job's endpoints, found by trying the kinds its id can be. */
async function locate(id) {
  if (/^\d{1,16}$/.test(id)) {
    try {
      return {kind: "recuro", job: await get(`/api/jobs/${id}`), base: `/api/jobs/${id}`};
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
    return {kind: "cron", job: await get(`/api/crons/${id}`), base: `/api/crons/${id}`};
  }
  return {kind: "quedup", job: await get(`/jobs/${enc(id)}`), base: `/jobs/${enc(id)}`};
}

async function history(found) {
  if (found.kind === "quedup") return get(`${found.base}/events?limit=1000`);
  const events = [];
  let url = `${found.base}/events?per_page=100`;
  for (let i = 0; url && i < MAX_EVENT_PAGES; i++) {
    const page = await get(url);
    events.push(...page.data);
    url = page.links.next;
  }
  return events;
}

async function runs(found) {
  if (found.kind === "quedup") return get(`${found.base}/runs?limit=100`);
  return (await get(`${found.base}/runs?per_page=100`)).data;
}

const integerOf = (key) => (typeof key === "string" ? key.replace(/^r[jc]_/, "") : key);

function ms(value) {
  return value === null || value === undefined ? "—" : `${Math.round(value)} ms`;
}

function attempt(outcome, event) {
  const late = new Date(outcome.started_at) - new Date(outcome.due_at);
  const ok = event.type === "JobSucceeded";
  return h("div", {class: "attempt"},
    details([
      ["Outcome", badge(ok ? "success" : "failed")],
      ["Response status", text(outcome.response_status)],
      ["Due", time(outcome.due_at)],
      ["Started", time(outcome.started_at)],
      ["Duration", ms(outcome.duration_ms)],
      ["Lateness (start − due)", ms(late)],
      ["Failure", text(event.payload.failure_reason ? `${event.payload.failure_reason}: ${event.payload.error_message || ""}` : null)],
    ]),
    headersTable("Request headers", outcome.request_headers),
    h("h4", {}, "Request body"), h("pre", {class: "body"}, text(outcome.request_body)),
    headersTable("Response headers", outcome.response_headers),
    h("h4", {}, outcome.response_truncated ? "Response body (truncated)" : "Response body"),
    h("pre", {class: "body response-body"}, text(outcome.response_body)));
}

function describe(event) {
  const p = event.payload || {};
  switch (event.type) {
    case "JobCreated": case "JobPushed":
      return ["Created", p.scheduled_at ? h("p", {}, "Scheduled for ", time(p.scheduled_at)) : null];
    case "JobScheduled": return [`Scheduled (${p.reason})`, h("p", {}, "Next run ", time(p.next_run_at))];
    case "JobDue": return [`Due (attempt ${p.attempt || 1})`, h("p", {}, "Due at ", time(p.due_at))];
    case "JobSucceeded": return [`Attempt ${p.outcome.attempt} succeeded`, attempt(p.outcome, event)];
    case "JobFailed": return [`Attempt ${p.outcome.attempt} failed`, attempt(p.outcome, event)];
    case "JobRetryScheduled":
      return ["Retry scheduled", h("p", {}, "Attempt ", String(p.next_attempt), " at ", time(p.retry_at),
        p.retry_job_id ? [" as job ", jobLink(integerOf(p.retry_job_id))] : null)];
    case "CallbackDue": return ["Callback due", null];
    case "CallbackSucceeded": return [`Callback delivered (HTTP ${p.response_status}, ${ms(p.duration_ms)})`, null];
    case "CallbackFailed": return [`Callback attempt ${p.attempt} failed (${p.failure_reason})`, text(p.error_message)];
    case "CallbackRetryScheduled": return ["Callback retry scheduled", null];
    case "CallbackAbandoned": return ["Callback abandoned", null];
    case "JobDeadLettered": return [`Dead-lettered after ${p.attempts} attempts`, p.purge_at ? h("p", {}, "Purged at ", time(p.purge_at)) : null];
    case "DeadLetterReplayed": return ["Replayed", h("p", {}, "As job ", jobLink(p.replay_integer_id))];
    default: return [event.type.replace(/([a-z])([A-Z])/g, "$1 $2"), null];
  }
}

function timeline(events) {
  return h("ol", {class: "timeline", id: "timeline"}, events.map((event) => {
    const [label, body] = describe(event);
    return h("li", {class: `ev ev-${/^[A-Za-z]+$/.test(event.type) ? event.type : "other"}`},
      h("div", {class: "ev-head"}, h("strong", {}, label), " ", time(event.occurred_at)),
      body,
      h("details", {}, h("summary", {}, `${event.type} event`), h("pre", {class: "body"}, text(event.payload))));
  }));
}

function summary(found) {
  const j = found.job;
  if (found.kind === "recuro") {
    return details([
      ["Queue", text(j.queue)], ["Status", badge(j.status)], ["Final status", badge(j.final_status)],
      ["Method", j.method], ["URL", j.url], ["Callback URL", text(j.callback_url)],
      ["Attempt", String(j.attempt_number)], ["Retry of", j.retry_of ? jobLink(j.retry_of) : "—"],
      ["Retry job", j.retry_job_id ? jobLink(j.retry_job_id) : "—"], ["Created", time(j.created_at)],
      ["Scheduled", time(j.scheduled_at)], ["Dead-lettered", time(j.dead_lettered_at)],
    ]);
  }
  if (found.kind === "cron") {
    return details([
      ["Name", j.name], ["Active", j.is_active ? "yes" : "no (paused)"], ["Cron expression", j.cron_expression],
      ["Time zone", j.timezone], ["Method", j.method], ["URL", j.url], ["Next run", time(j.next_run_at)],
      ["Last run", time(j.last_run_at)], ["Created", time(j.created_at)],
    ]);
  }
  return details([
    ["Name", j.name], ["Status", badge(j.status)], ["Method", j.method], ["URL", j.url],
    ["Schedule", text(j.schedule)], ["Time zone", j.timezone], ["Next run", time(j.next_run_at)],
  ]);
}

function actions(ctx, found, id, refresh) {
  const after = (said) => async () => { await refresh(); return said; };
  const buttons = [];
  if (found.kind === "recuro") {
    if (found.job.final_status === "dead_lettered") {
      buttons.push(actionButton(ctx, "Replay", async () => {
        const r = await post(`/api/dead-letters/${id}/replay`);
        await refresh();
        return `Replayed as job ${r.job_id}.`;
      }));
      buttons.push(actionButton(ctx, "Delete", async () => {
        await del(`/api/dead-letters/${id}`);
        ctx.navigate("/console/dead-letters");
        return "Deleted.";
      }, {confirm: "Delete this dead letter, its retries and all their runs?", danger: true}));
    }
  } else if (found.kind === "cron") {
    const active = found.job.is_active;
    buttons.push(actionButton(ctx, active ? "Pause" : "Resume", () => patch(found.base, {is_active: !active}).then(after(active ? "Paused." : "Resumed."))));
    buttons.push(actionButton(ctx, "Delete", async () => {
      await del(found.base);
      ctx.navigate("/console/crons");
      return "Deleted.";
    }, {confirm: "Delete this cron and its runs?", danger: true}));
  } else {
    const paused = found.job.status === "paused";
    buttons.push(actionButton(ctx, paused ? "Resume" : "Pause", () => post(`${found.base}/${paused ? "resume" : "pause"}`).then(after(paused ? "Resumed." : "Paused."))));
    buttons.push(actionButton(ctx, "Delete", async () => {
      await del(found.base);
      ctx.navigate("/console/");
      return "Deleted.";
    }, {confirm: "Delete this job?", danger: true}));
  }
  const note = found.kind === "recuro"
    ? h("p", {class: "muted"}, "A Recuro queue job cannot be paused or deleted through the API; a dead letter can be replayed or deleted.")
    : null;
  return h("div", {class: "actions", role: "group", "aria-label": "Job actions"}, buttons, note);
}

function signatureHeaders(runList) {
  const latest = runList.length ? runList[0] : null;
  const headers = Object.fromEntries(Object.entries((latest && latest.request_headers) || {}).filter(([k]) => SIGNATURE.test(k)));
  return h("section", {"aria-labelledby": "sig-h"}, h("h2", {id: "sig-h"}, "Signature headers (latest attempt)"),
    latest ? headersTable("Signature headers", headers) : h("p", {class: "muted"}, "No attempt yet."),
    h("p", {class: "muted"}, "Verify them with the tenant's signing secret (", navLink("/console/settings", "Settings"), ")."));
}

export async function jobPage(ctx, id) {
  const live = liveNote(ctx);
  const body = h("div", {id: "job"});
  fill(ctx.main, h("p", {}, navLink("/console/", "← Jobs")), h("h1", {}, "Job ", h("code", {class: "job-id"}, id)), live.note, body);
  let shown = "";

  async function refresh(force = true) {
    const found = await locate(id);
    const [events, runList] = await Promise.all([history(found), runs(found)]);
    const key = JSON.stringify([found.job, events.length, runList.length]);
    live.touch();
    if (!force && key === shown) return; // unchanged: keep the page (and the reader's place) as it is
    shown = key;
    const request = found.kind === "recuro" ? found.job.payload : found.kind === "cron" ? found.job.payload : found.job.body;
    fill(body,
      actions(ctx, found, id, refresh),
      h("section", {"aria-labelledby": "what-h"}, h("h2", {id: "what-h"}, "Job"), summary(found),
        headersTable("Request headers", found.job.headers),
        h("h3", {}, found.kind === "quedup" ? "Body" : "Payload"), h("pre", {class: "body", id: "payload"}, text(request))),
      signatureHeaders(runList),
      h("section", {"aria-labelledby": "tl-h"}, h("h2", {id: "tl-h"}, "Timeline"),
        events.length ? timeline(events) : h("p", {class: "muted"}, "No events recorded yet.")));
  }

  try {
    await refresh();
  } catch (err) {
    fill(body, h("p", {class: "error"}, err instanceof ApiError && err.status === 404 ? "No such job for this token." : String(err.message || err)));
    return;
  }
  ctx.every(POLL_MS, () => refresh(false).catch((err) => ctx.say(String(err.message || err), "error")));
}
