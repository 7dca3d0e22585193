// The status page: fetches the JSON API and renders it with DOM methods
// only. Every value from the server is untrusted (competitor titles, LLM
// text) and is written with textContent — never innerHTML.
"use strict";

const REFRESH_MS = 10000;
const TOKEN_KEY = "blog-poster-token";

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch (_) { return ""; }
}

async function api(path) {
  const headers = { "Accept": "application/json" };
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  const r = await fetch(path, { headers, cache: "no-store", credentials: "omit" });
  if (r.status === 401) {
    const e = new Error("unauthorized");
    e.unauthorized = true;
    throw e;
  }
  const body = await r.json();
  if (!r.ok) throw new Error((body && body.message) || ("HTTP " + r.status));
  return body;
}

// el("li", {class: "x"}, "text", child) — children are text or nodes.
function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") n.className = v; else n.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    n.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
  return n;
}

function replace(id, nodes) {
  const target = document.getElementById(id);
  target.replaceChildren(...nodes);
}

function usd(micros) {
  if (micros === null || micros === undefined) return "no cap";
  return "$" + (micros / 1e6).toFixed(2);
}

function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  return isNaN(d) ? String(ts) : d.toLocaleString();
}

function gauge(label, line) {
  const pct = line.cap ? Math.min(100, (line.total / line.cap) * 100) : 0;
  const fill = el("div", { class: "fill" + (pct >= 100 ? " bad" : pct >= 80 ? " warn" : "") });
  fill.style.width = pct.toFixed(1) + "%";
  return el("div", { class: "gauge" },
    el("div", {}, label + ": " + usd(line.total) + " of " + usd(line.cap)),
    el("div", { class: "track", role: "meter", "aria-valuenow": String(Math.round(pct)),
                "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": label }, fill));
}

function siteCard(s) {
  const title = el("h3", {}, s.name);
  if (s.paused) title.appendChild(el("span", { class: "badge warn" }, "paused"));
  if (!s.enabled) title.appendChild(el("span", { class: "badge" }, "disabled"));
  if (s.queue.dead > 0) title.appendChild(el("span", { class: "badge bad" }, s.queue.dead + " dead"));
  const dl = el("dl", {},
    el("dt", {}, "next run"), el("dd", {}, when(s.next_run_at)),
    el("dt", {}, "last run"), el("dd", {}, when(s.last_run_at)),
    el("dt", {}, "queue"), el("dd", {}, s.queue.queued + " queued, " + s.queue.waiting + " waiting, " + s.queue.running + " running"));
  if (s.paused && s.pause_reason) dl.append(el("dt", {}, "paused"), el("dd", {}, s.pause_reason));
  if (s.last_error) dl.append(el("dt", {}, "last error"), el("dd", {}, s.last_error));
  return el("div", { class: "card" }, title, dl, gauge("today", s.today), gauge("month", s.month));
}

async function refresh() {
  try {
    const [status, runs, articles, items] = await Promise.all([
      api("/api/v1/status"),
      api("/api/v1/runs?limit=50"),
      api("/api/v1/articles?status=all&limit=10"),
      api("/api/v1/source-items?limit=10"),
    ]);
    document.getElementById("token-box").hidden = true;
    document.getElementById("error").hidden = true;
    replace("global", [gauge("all sites today", status.global.today), gauge("all sites this month", status.global.month)]);
    replace("sites", status.sites.filter((s) => s.in_config).map(siteCard));
    const failed = runs.runs.filter((r) => r.status === "failed" || r.error).slice(0, 10);
    replace("failures", failed.length ? failed.map((r) =>
      el("li", {}, el("strong", {}, r.site), " run " + r.id + " · " + when(r.finished_at || r.created_at) + " · ", r.error || r.outcome || r.status))
      : [el("li", { class: "muted" }, "none")]);
    replace("articles", articles.articles.length ? articles.articles.map((a) =>
      el("li", {}, el("strong", {}, a.title), el("span", { class: "badge" }, a.status),
         el("div", { class: "muted" }, a.site + " · " + when(a.created_at) + (a.check_score !== null ? " · score " + a.check_score : ""))))
      : [el("li", { class: "muted" }, "none yet")]);
    replace("items", items.items.length ? items.items.map((i) =>
      el("li", {}, el("span", {}, i.title), el("div", { class: "muted" }, i.site + " · " + when(i.fetched_at))))
      : [el("li", { class: "muted" }, "none yet")]);
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    document.getElementById("version").textContent = "blog-poster " + status.version;
    const u = status.update || {};
    const notice = document.getElementById("update");
    notice.hidden = !u.available;
    if (u.available) {
      notice.textContent = u.staged
        ? "Update " + u.latest + " is being installed (blog-poster-update.service)."
        : "Update available: " + u.latest + " (running " + u.current + "). Install it with: sudo blog-poster self-update";
    }
  } catch (e) {
    if (e.unauthorized) {
      document.getElementById("token-box").hidden = false;
      document.getElementById("updated").textContent = "token needed";
    } else {
      const err = document.getElementById("error");
      err.textContent = "Cannot load the status: " + e.message;
      err.hidden = false;
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    try { sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim()); } catch (_) {}
    refresh();
  });
  refresh();
  setInterval(refresh, REFRESH_MS);
});
