// /console/crons: each Recuro cron with its next 5 occurrences in its zone, its last runs; pause, resume, edit, delete.
import {enc, del, get, patch} from "../api.js";
import {field, fill, h, time} from "../dom.js";
import {actionButton, badge, jobLink} from "./common.js";

async function allCrons() {
  const crons = [];
  let url = "/api/crons?per_page=100";
  for (let i = 0; url && i < 20; i++) {
    const page = await get(url);
    crons.push(...page.data);
    url = page.links.next;
  }
  return crons;
}

function inZone(iso, zone) {
  try {
    return new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "long", timeZone: zone}).format(new Date(iso));
  } catch {
    return iso;
  }
}

function editForm(ctx, c, reload) {
  const expression = h("input", {name: "cron_expression", value: c.cron_expression, required: true, autocomplete: "off"});
  const zone = h("input", {name: "timezone", value: c.timezone, required: true, autocomplete: "off"});
  const url = h("input", {name: "url", type: "url", value: c.url, required: true});
  return h("form", {class: "edit", "aria-label": `Edit cron ${c.name}`, onsubmit: async (e) => {
    e.preventDefault();
    try {
      await patch(`/api/crons/${c.id}`, {cron_expression: expression.value, timezone: zone.value, url: url.value});
      ctx.say(`Cron ${c.name} saved.`, "ok");
      await reload();
    } catch (err) {
      ctx.say(String(err.message || err), "error");
    }
  }}, field("Cron expression", expression), field("Time zone (IANA)", zone), field("URL", url),
  h("button", {type: "submit"}, "Save cron"));
}

export async function cronsPage(ctx) {
  const list = h("div", {id: "crons"});
  fill(ctx.main, h("h1", {}, "Crons"), list);

  async function reload() {
    const crons = await allCrons();
    if (!crons.length) {
      fill(list, h("p", {class: "muted"}, "No crons yet (POST /api/crons)."));
      return;
    }
    const cards = await Promise.all(crons.map(async (c) => {
      const [next, runs] = await Promise.all([
        get(`/console/api/schedules/${enc(String(c.id))}/occurrences?count=5`),
        get(`/api/crons/${c.id}/runs?per_page=5`),
      ]);
      return h("section", {class: "card cron", "aria-label": `Cron ${c.name}`},
        h("h2", {}, jobLink(c.id), " ", c.name, " ", badge(c.is_active ? "active" : "paused")),
        h("p", {}, h("code", {}, c.cron_expression), ` in ${c.timezone}`, " → ", c.method, " ", h("span", {class: "url"}, c.url)),
        h("h3", {}, "Next 5 occurrences"),
        next.occurrences.length
          ? h("ol", {class: "occurrences"}, next.occurrences.map((at) => h("li", {}, h("time", {datetime: at, title: at}, inZone(at, c.timezone)))))
          : h("p", {class: "muted"}, "None while paused."),
        h("h3", {}, "Last runs"),
        runs.data.length
          ? h("ul", {class: "runs"}, runs.data.map((r) => h("li", {}, badge(r.status), " ", time(r.executed_at), ` · HTTP ${r.response_status ?? "—"} · ${Math.round(r.duration_ms)} ms`)))
          : h("p", {class: "muted"}, "No runs yet."),
        h("div", {class: "actions"},
          actionButton(ctx, c.is_active ? "Pause" : "Resume", async () => {
            await patch(`/api/crons/${c.id}`, {is_active: !c.is_active});
            await reload();
            return c.is_active ? `Cron ${c.name} paused.` : `Cron ${c.name} resumed.`;
          }),
          actionButton(ctx, "Delete", async () => {
            await del(`/api/crons/${c.id}`);
            await reload();
            return `Cron ${c.name} deleted.`;
          }, {confirm: `Delete cron ${c.name}?`, danger: true})),
        h("details", {}, h("summary", {}, "Edit"), editForm(ctx, c, reload)));
    }));
    fill(list, cards);
  }
  await reload();
}
