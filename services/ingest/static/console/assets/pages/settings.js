// /console/settings: the alert destination, and the signing secret (masked; reveal; rotate).
import {ApiError, del, get, post, put} from "../api.js";
import {field, fill, h, select, time} from "../dom.js";
import {actionButton} from "./common.js";

export async function settingsPage(ctx) {
  const alerts = h("section", {"aria-labelledby": "alert-h"});
  const signing = h("section", {"aria-labelledby": "sig-h"});
  fill(ctx.main, h("h1", {}, "Settings"), alerts, signing);

  async function loadAlerts() {
    let current = null;
    try {
      current = await get("/api/alert-destination");
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
    const url = h("input", {type: "url", name: "url", required: true, value: current ? current.url : ""});
    const format = select("format", [["json", "JSON"], ["slack", "Slack"]], current ? current.format : "json");
    fill(alerts, h("h2", {id: "alert-h"}, "Alert destination"),
      h("p", {class: "muted"}, current ? ["Set ", time(current.updated_at), "."] : "None set: alerts are kept (GET /api/alerts) but sent nowhere."),
      h("form", {class: "edit", "aria-label": "Alert destination", onsubmit: async (e) => {
        e.preventDefault();
        try {
          await put("/api/alert-destination", {url: url.value, format: format.value});
          ctx.say("Alert destination saved.", "ok");
          await loadAlerts();
        } catch (err) {
          ctx.say(String(err.message || err), "error");
        }
      }}, field("URL", url), field("Format", format), h("button", {type: "submit"}, "Save destination")),
      current ? actionButton(ctx, "Remove destination", async () => {
        await del("/api/alert-destination");
        await loadAlerts();
        return "Alert destination removed.";
      }, {confirm: "Stop sending alerts?", danger: true}) : null);
  }

  async function loadSecret() {
    const secret = await get("/api/signing-secret");
    const value = h("code", {id: "secret", class: "secret"}, "•".repeat(24));
    let shown = false;
    const reveal = h("button", {type: "button", "aria-pressed": "false", "aria-controls": "secret", onclick: () => {
      shown = !shown;
      value.textContent = shown ? secret.secret : "•".repeat(24);
      reveal.setAttribute("aria-pressed", String(shown));
      reveal.textContent = shown ? "Hide" : "Reveal";
    }}, "Reveal");
    fill(signing, h("h2", {id: "sig-h"}, "Signing secret"),
      h("p", {}, "Receivers verify each delivery's Standard Webhooks signature with it", secret.recuro_compat ? " (and Recuro's X-Recuro-Signature)." : "."),
      h("p", {}, h("span", {id: "secret-label"}, "Secret: "), value, " ", reveal),
      h("p", {class: "muted"}, "Made ", time(secret.created_at),
        secret.previous_expires_at ? [". The previous secret signs too until ", time(secret.previous_expires_at)] : "", "."),
      actionButton(ctx, "Rotate secret", async () => {
        await post("/api/signing-secret/rotate", {});
        await loadSecret();
        return "Secret rotated: the previous one keeps signing beside it for the grace period.";
      }, {confirm: "Rotate the signing secret? Receivers must learn the new one before the grace period ends."}));
  }

  await Promise.all([loadAlerts(), loadSecret()]);
}
