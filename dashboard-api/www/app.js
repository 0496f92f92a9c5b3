// Lianfang dashboard. Plain JavaScript, no dependencies.
// Every value that comes from events or agents is put into the page with
// textContent and DOM nodes, never parsed as HTML, so event text cannot
// inject markup.
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const TAIPEI_OFFSET_MS = 8 * 3600 * 1000; // Asia/Taipei is UTC+8 all year (no DST)

  const state = {
    agency: "",
    agent: "",
    limit: 50,
    cursor: null,      // cursor of the page on screen (null = newest)
    back: [],          // cursors of the newer pages, to go back
    next: null,        // next_cursor of the page on screen
    expanded: new Set(),
    timer: null,
    loading: false,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // ---- Time ---------------------------------------------------------------

  function toMs(value) {
    if (typeof value === "number") return value;
    if (typeof value === "string" && value) {
      const ms = Date.parse(value);
      if (!Number.isNaN(ms)) return ms;
    }
    return null;
  }

  // "2026-03-10 09:02:00" in Asia/Taipei.
  function taipei(ms) {
    if (ms === null) return "–";
    return new Date(ms + TAIPEI_OFFSET_MS).toISOString().replace("T", " ").slice(0, 19);
  }

  function utc(ms) {
    return ms === null ? "" : new Date(ms).toISOString().replace(".000Z", "Z") + " (UTC)";
  }

  function duration(seconds) {
    const d = Math.floor(seconds / 86400);
    const h = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    return m + "m " + (seconds % 60) + "s";
  }

  function bytes(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  // ---- ECS field access (nested objects or flattened "a.b" keys) -----------

  function field(doc, path) {
    if (!doc || typeof doc !== "object") return undefined;
    if (Object.prototype.hasOwnProperty.call(doc, path)) return doc[path];
    let cur = doc;
    for (const part of path.split(".")) {
      if (!cur || typeof cur !== "object" || !Object.prototype.hasOwnProperty.call(cur, part)) {
        return undefined;
      }
      cur = cur[part];
    }
    return cur;
  }

  function text(value) {
    if (value === undefined || value === null) return "";
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function eventKey(doc, index) {
    const agent = field(doc, "agent.id");
    const seq = field(doc, "event.sequence");
    if (agent !== undefined && seq !== undefined) return text(agent) + "/" + text(seq);
    return "#" + index + ":" + text(field(doc, "@timestamp"));
  }

  // ---- API ------------------------------------------------------------------

  async function getJSON(url) {
    const res = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok && !(res.status === 503 && body && body.status)) {
      const msg = body && body.error ? body.error.message : res.status + " " + res.statusText;
      throw new Error(msg);
    }
    return body;
  }

  function showError(id, err) {
    const box = $(id);
    if (err) {
      box.textContent = "錯誤 Error: " + err.message;
      box.hidden = false;
    } else {
      box.hidden = true;
    }
  }

  // ---- Health ---------------------------------------------------------------

  async function loadHealth() {
    const pill = $("health-pill");
    const checks = $("health-checks");
    try {
      const h = await getJSON("/api/v1/health");
      const ok = h.status === "ok";
      pill.className = "pill " + (ok ? "pill-ok" : "pill-degraded");
      pill.textContent = ok ? "正常 OK" : "降級 Degraded";
      clear(checks);
      for (const c of h.checks || []) {
        const badge = el("span", "check " + (c.ok ? "check-ok" : "check-bad"), c.name);
        badge.title = c.detail || (c.ok ? "ok" : "failing");
        checks.appendChild(badge);
      }
      $("health-meta").textContent = "v" + h.version + " · 運行 up " + duration(h.uptime_s);
      $("version").textContent = "v" + h.version;
    } catch (err) {
      pill.className = "pill pill-down";
      pill.textContent = "無法連線 Unreachable";
      clear(checks);
      $("health-meta").textContent = err.message;
    }
  }

  async function loadStats() {
    try {
      const s = await getJSON("/api/v1/stats");
      $("stat-events").textContent = s.store.events.toLocaleString("en-US");
      $("stat-agents").textContent = s.store.agents.toLocaleString("en-US");
      if (typeof s.store.alerts === "number")
        $("stat-alerts").textContent = s.store.alerts.toLocaleString("en-US");
      $("stat-map").textContent =
        bytes(s.store.map_used) + " / " + bytes(s.store.map_size);
    } catch (err) {
      $("stat-events").textContent = "–";
    }
  }

  // ---- Agents ---------------------------------------------------------------

  function fillDatalist(id, values) {
    const list = $(id);
    clear(list);
    for (const v of Array.from(new Set(values)).sort()) {
      if (!v) continue;
      const opt = document.createElement("option");
      opt.value = v;
      list.appendChild(opt);
    }
  }

  // Agent status (derived by the API) -> label and light colour.
  const AGENT_STATUS = {
    healthy: ["正常 healthy", "green"],
    unhealthy: ["異常 unhealthy", "orange"],
    silent: ["失聯 silent", "grey"],
    not_enrolled: ["未註冊 not enrolled", "blue"],
    refused: ["拒收 refused", "red"],
  };

  function agentTitle(a) {
    const lines = [];
    for (const p of a.problems ?? []) lines.push(p);
    const e = a.enrolment;
    if (e && e.reason) lines.push("註冊 enrolment: " + e.reason + " – " + e.reason_text);
    if (e && e.refused_batches) {
      lines.push("拒收 refused: " + e.refused_batches + " batches, " + e.refused_records +
        " records (held at the agent)");
    }
    if (a.last_error) lines.push("最後錯誤 last error: " + a.last_error.message);
    if (a.last_heartbeat) lines.push("最後心跳 last heartbeat: " + taipei(toMs(a.last_heartbeat)));
    return lines.join("\n");
  }

  async function loadAgents() {
    try {
      const data = await getJSON("/api/v1/agents");
      const body = $("agents-body");
      clear(body);
      const now = Date.now();
      for (const a of data.agents) {
        const tr = el("tr");
        const status = a.status ?? "not_enrolled";
        const light = el("td");
        light.appendChild(lightChip(AGENT_STATUS[status]?.[0] ?? status, null,
          AGENT_STATUS[status]?.[1] ?? "grey", agentTitle(a)));
        tr.appendChild(light);
        tr.appendChild(el("td", null, a.id));
        tr.appendChild(el("td", null, a.agency));
        tr.appendChild(el("td", null, a.host));
        const version = el("td", null, a.version ?? "–");
        version.title = a.os ?? "";
        tr.appendChild(version);
        const seen = toMs(a.last_seen);
        const td = el("td", seen !== null && now - seen > 15 * 60 * 1000 ? "stale" : null,
          taipei(seen));
        td.title = utc(seen);
        tr.appendChild(td);
        const c = a.counters ?? {};
        const count = (v) => (v === undefined ? "–" : v.toLocaleString("en-US"));
        tr.appendChild(el("td", "num", count(c.records_read)));
        tr.appendChild(el("td", "num", count(c.records_unacked)));
        let lost = c.records_lost;
        for (const [k, v] of Object.entries(c)) {
          if (k !== "records_lost" && /(_lost|_dropped|_errors)$/.test(k)) lost = (lost ?? 0) + v;
        }
        tr.appendChild(el("td", lost ? "num stale" : "num", count(lost)));
        tr.appendChild(el("td", "num", a.events_stored.toLocaleString("en-US")));
        tr.appendChild(el("td", "num", a.duplicates.toLocaleString("en-US")));
        tr.appendChild(el("td", "num", a.watermark));
        tr.title = "首次 First seen " + taipei(toMs(a.first_seen)) + " (UTC+8)";
        body.appendChild(tr);
      }
      $("agents-empty").hidden = data.agents.length !== 0;
      fillDatalist("agency-list", data.agents.map((a) => a.agency));
      fillDatalist("agent-list", data.agents.map((a) => a.id));
      showError("agents-error", null);
    } catch (err) {
      showError("agents-error", err);
    }
  }

  // ---- Threat lights ----------------------------------------------------------

  const LIGHT_LABELS = {
    red: "紅 red", orange: "橙 orange", yellow: "黃 yellow", blue: "藍 blue",
    green: "綠 green", grey: "灰 grey",
  };

  function lightChip(name, sub, light, title) {
    const chip = el("span", "light light-" + light);
    chip.appendChild(el("span", "light-dot"));
    chip.appendChild(el("span", "light-name", name));
    if (sub) chip.appendChild(el("span", "light-sub", sub));
    chip.title = title;
    return chip;
  }

  async function loadLights() {
    try {
      const data = await getJSON("/api/v1/lights");
      const regions = $("lights-regions");
      clear(regions);
      for (const r of data.regions) {
        regions.appendChild(lightChip(r.name, LIGHT_LABELS[r.light] ?? r.light, r.light,
          r.region + (r.cluster_step_up ? " · 跨機關升級 cluster step-up" : "")));
      }
      const agencies = $("lights-agencies");
      clear(agencies);
      for (const a of data.agencies) {
        const open = [1, 2, 3, 4].map((l) => a["open_level_" + l]).join("/");
        agencies.appendChild(lightChip(a.agency, a.name, a.light,
          (LIGHT_LABELS[a.light] ?? a.light) + " · open L1/L2/L3/L4 " + open +
          (a.sources_silent ? " · 來源靜默 sources silent" : "")));
      }
      showError("lights-error", null);
    } catch (err) {
      showError("lights-error", err);
    }
  }

  // ---- Incidents ----------------------------------------------------------------

  const STATUS_LABELS = {
    new: "新 new", acknowledged: "已確認 acknowledged", contained: "已控制 contained",
    recovered: "已復原 recovered", closed: "結案 closed",
  };
  const NEXT_STATUS = ["acknowledged", "contained", "recovered", "closed"];

  async function incidentAction(id, body) {
    const by = $("incident-by").value.trim();
    const resp = await fetch("/api/v1/incidents/" + id + "/actions", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(Object.assign({by}, body)),
    });
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.error ? data.error.message : "HTTP " + resp.status);
    return data;
  }

  function incidentDetail(inc, cell) {
    clear(cell);
    const actions = el("div", "actions");
    const current = NEXT_STATUS.indexOf(inc.status);
    for (const st of NEXT_STATUS.slice(current + 1)) {
      const b = el("button", "btn", "→ " + STATUS_LABELS[st]);
      b.type = "button";
      b.addEventListener("click", async () => {
        try {
          await incidentAction(inc.id, {action: "status", status: st});
          loadIncidents();
          loadLights();
        } catch (err) {
          showError("incidents-error", err);
        }
      });
      actions.appendChild(b);
    }
    const report = el("a", "btn", "通報單 Notification draft");
    report.href = "/api/v1/incidents/" + inc.id + "/report?format=html";
    report.target = "_blank";
    report.rel = "noopener";
    actions.appendChild(report);
    cell.appendChild(actions);
    const due = inc.deadlines || {};
    const facts = [
      ["建議等級 Suggested level", inc.suggested_level],
      ["影響 Impact", inc.impact ? `${inc.impact.asset} C:${inc.impact.c} I:${inc.impact.i} A:${inc.impact.a}` : ""],
      ["知悉 Awareness", taipei(toMs(inc.awareness))],
      ["復原期限 Recovery due", taipei(toMs(due.recovery))],
      ["ATT&CK", (inc.techniques || []).join(", ")],
      ["來源 Sources", ((inc.entities || {})["source.ip"] || []).join(", ")],
      ["聯防 Cluster", inc.cluster ? `${inc.cluster.key} (${inc.cluster.agencies} 機關 agencies)` : ""],
    ];
    const dl = el("dl", "facts");
    for (const [k, v] of facts) {
      if (v === "" || v === undefined || v === null || v === "–") continue;
      dl.appendChild(el("dt", null, k));
      dl.appendChild(el("dd", null, v));
    }
    cell.appendChild(dl);
  }

  async function loadIncidents() {
    try {
      const p = new URLSearchParams({limit: "50"});
      if ($("incident-status").value) p.set("status", $("incident-status").value);
      if ($("incident-overdue").checked) p.set("overdue", "true");
      const data = await getJSON("/api/v1/incidents?" + p.toString());
      const body = $("incidents-body");
      clear(body);
      for (const inc of data.incidents) {
        const tr = el("tr", "incident level-" + inc.level + (inc.overdue.any ? " overdue" : ""));
        tr.appendChild(el("td", null, inc.id));
        tr.appendChild(el("td", "level", "L" + inc.level));
        tr.appendChild(el("td", null, STATUS_LABELS[inc.status] ?? inc.status));
        tr.appendChild(el("td", null, inc.scope === "region" ? "區域 " + (inc.region || "") :
          (inc.agency_name ? inc.agency + " " + inc.agency_name : inc.agency)));
        tr.appendChild(el("td", "msg", inc.title));
        tr.appendChild(el("td", "num", inc.alert_count));
        tr.appendChild(el("td", "time", taipei(toMs(inc.last_alert))));
        const due = inc.deadlines && inc.deadlines.report ? taipei(toMs(inc.deadlines.report)) : "–";
        tr.appendChild(el("td", inc.overdue.report ? "stale" : null,
          due + (inc.overdue.any ? " 逾期 overdue" : "")));
        const detail = el("tr", "detail");
        const cell = el("td");
        cell.colSpan = 8;
        detail.appendChild(cell);
        detail.hidden = true;
        tr.addEventListener("click", () => {
          detail.hidden = !detail.hidden;
          tr.classList.toggle("open", !detail.hidden);
          if (!detail.hidden) incidentDetail(inc, cell);
        });
        body.appendChild(tr);
        body.appendChild(detail);
      }
      $("incidents-empty").hidden = data.incidents.length !== 0;
      showError("incidents-error", null);
    } catch (err) {
      showError("incidents-error", err);
    }
  }

  // ---- Alerts ---------------------------------------------------------------

  const LEVEL_LABELS = {
    informational: "資訊 info", low: "低 low", medium: "中 medium", high: "高 high",
    critical: "嚴重 critical",
  };

  function alertSource(doc) {
    const ip = field(doc, "source.ip");
    const user = field(doc, "user.name");
    if (ip && user) return ip + " · " + user;
    return text(ip ?? user ?? field(doc, "indicator.matched_value") ?? "");
  }

  async function loadAlerts() {
    try {
      const p = new URLSearchParams({limit: "25", min_level: $("alert-level").value});
      const data = await getJSON("/api/v1/alerts?" + p.toString());
      const body = $("alerts-body");
      clear(body);
      for (const doc of data.alerts) {
        const ms = toMs(field(doc, "@timestamp"));
        const level = text(field(doc, "alert.level"));
        const tr = el("tr", "alert level-" + level);
        const time = el("td", "time", taipei(ms));
        time.title = utc(ms);
        tr.appendChild(time);
        tr.appendChild(el("td", "level", LEVEL_LABELS[level] ?? level));
        tr.appendChild(el("td", null, text(field(doc, "alert.type"))));
        tr.appendChild(el("td", null, text(field(doc, "organization.id"))));
        tr.appendChild(el("td", null, text(field(doc, "host.name"))));
        tr.appendChild(el("td", null, alertSource(doc)));
        const rule = el("td", "msg", text(field(doc, "rule.name") || field(doc, "rule.id")));
        rule.title = text(field(doc, "rule.id"));
        tr.appendChild(rule);
        const detail = el("tr", "detail");
        const cell = el("td");
        cell.colSpan = 7;
        cell.appendChild(el("pre", null, JSON.stringify(doc, null, 2)));
        detail.appendChild(cell);
        detail.hidden = true;
        tr.addEventListener("click", () => {
          detail.hidden = !detail.hidden;
          tr.classList.toggle("open", !detail.hidden);
        });
        body.appendChild(tr);
        body.appendChild(detail);
      }
      $("alerts-empty").hidden = data.alerts.length !== 0;
      showError("alerts-error", null);
    } catch (err) {
      showError("alerts-error", err);
    }
  }

  // ---- Events ---------------------------------------------------------------

  function eventsURL() {
    const p = new URLSearchParams();
    p.set("limit", String(state.limit));
    if (state.cursor) p.set("cursor", state.cursor);
    if (state.agency) p.set("agency", state.agency);
    if (state.agent) p.set("agent", state.agent);
    return "/api/v1/events?" + p.toString();
  }

  function renderEvents(events) {
    const body = $("events-body");
    clear(body);
    events.forEach((doc, index) => {
      const key = eventKey(doc, index);
      const ms = toMs(field(doc, "@timestamp"));
      const tr = el("tr", "event");
      const time = el("td", "time", taipei(ms));
      time.title = utc(ms);
      tr.appendChild(time);
      tr.appendChild(el("td", null, text(field(doc, "organization.id"))));
      tr.appendChild(el("td", null, text(field(doc, "host.name"))));
      tr.appendChild(el("td", null, text(field(doc, "agent.id"))));
      const message =
        field(doc, "message") ?? field(doc, "event.original") ?? field(doc, "log.original");
      const msg = el("td", "msg", text(message));
      msg.title = text(message).slice(0, 2000);
      tr.appendChild(msg);

      const detail = el("tr", "detail");
      const cell = el("td");
      cell.colSpan = 5;
      cell.appendChild(el("pre", null, JSON.stringify(doc, null, 2)));
      detail.appendChild(cell);
      detail.hidden = !state.expanded.has(key);
      if (!detail.hidden) tr.classList.add("open");

      tr.addEventListener("click", () => {
        detail.hidden = !detail.hidden;
        tr.classList.toggle("open", !detail.hidden);
        if (detail.hidden) state.expanded.delete(key);
        else state.expanded.add(key);
      });
      body.appendChild(tr);
      body.appendChild(detail);
    });
    $("events-empty").hidden = events.length !== 0;
  }

  function updatePager(count) {
    $("page-older").disabled = !state.next;
    $("page-newer").disabled = state.back.length === 0;
    $("page-newest").disabled = state.cursor === null;
    const page = state.back.length + 1;
    $("page-info").textContent = "第 " + page + " 頁 Page " + page + " · " + count + " 筆 events";
  }

  async function loadEvents() {
    if (state.loading) return;
    state.loading = true;
    try {
      const data = await getJSON(eventsURL());
      state.next = data.next_cursor;
      renderEvents(data.events);
      updatePager(data.count);
      showError("events-error", null);
    } catch (err) {
      showError("events-error", err);
    } finally {
      state.loading = false;
    }
  }

  // ---- Refresh --------------------------------------------------------------

  async function refreshAll() {
    const tasks = [loadHealth(), loadStats(), loadAgents(), loadAlerts(), loadLights()];
    if (!document.querySelector("#incidents-body tr.open")) tasks.push(loadIncidents());
    // Only the newest page follows new events; an older page stays put.
    if (state.cursor === null) tasks.push(loadEvents());
    await Promise.all(tasks);
    $("stat-refresh").textContent = taipei(Date.now());
  }

  function setAutoRefresh(on) {
    if (state.timer) clearInterval(state.timer);
    state.timer = on ? setInterval(refreshAll, REFRESH_MS) : null;
  }

  function goNewest() {
    state.cursor = null;
    state.back = [];
    loadEvents();
  }

  function init() {
    $("filters").addEventListener("submit", (e) => {
      e.preventDefault();
      state.agency = $("filter-agency").value.trim();
      state.agent = $("filter-agent").value.trim();
      state.limit = parseInt($("filter-limit").value, 10) || 50;
      state.expanded.clear();
      goNewest();
    });
    $("filter-clear").addEventListener("click", () => {
      $("filter-agency").value = "";
      $("filter-agent").value = "";
      state.agency = "";
      state.agent = "";
      goNewest();
    });
    $("page-older").addEventListener("click", () => {
      if (!state.next) return;
      state.back.push(state.cursor);
      state.cursor = state.next;
      loadEvents();
    });
    $("page-newer").addEventListener("click", () => {
      if (state.back.length === 0) return;
      state.cursor = state.back.pop();
      loadEvents();
    });
    $("page-newest").addEventListener("click", goNewest);
    $("auto-refresh").addEventListener("change", (e) => setAutoRefresh(e.target.checked));
    $("alert-level").addEventListener("change", loadAlerts);
    $("incident-status").addEventListener("change", loadIncidents);
    $("incident-overdue").addEventListener("change", loadIncidents);
    const by = window.localStorage ? localStorage.getItem("lianfang.by") : null;
    if (by) $("incident-by").value = by;
    $("incident-by").addEventListener("change", () => {
      if (window.localStorage) localStorage.setItem("lianfang.by", $("incident-by").value.trim());
    });

    refreshAll();
    setAutoRefresh($("auto-refresh").checked);
  }

  document.addEventListener("DOMContentLoaded", init);
})();
