// CaseChain 执法监督看板. `LABELS` (zh-CN display labels and the rule pack's division names) is
// prepended by the server from the domain's own tables. Everything shown comes from the /v1 API
// with the user's bearer token; text from the log is always set with textContent, never parsed
// as HTML. Counts first (the summaries), rows on demand a page at a time.
"use strict";

const TOKEN_KEY = "casechain.token";
const PAGE_SIZE = 50;
const METRICS = [["filed", "立案"], ["decided", "作出决定"], ["closed", "结案"], ["referred", "移送公安"]];
const OUTCOMES = { penalty: "给予处罚", no_penalty: "不予处罚" };
const SEVERITY_ORDER = ["red", "yellow", "info"];
const COLOURS = ["green", "yellow", "red"];
const NO_TEAM = "未涉及处罚事项";
const DEVICE_KINDS = { camera: "摄像头", drone: "无人机", sensor: "传感器" };

const $ = (id) => document.getElementById(id);

// -- formatting ------------------------------------------------------------------------------
function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  if (className) td.className = className;
  return td;
}

function row(...cells) {
  const tr = document.createElement("tr");
  for (const c of cells) tr.append(c instanceof Node ? c : cell(c));
  return tr;
}

function fill(tableId, rows) {
  $(tableId).querySelector("tbody").replaceChildren(...rows);
}

// An ISO 8601 instant as Beijing time (China keeps UTC+8 all year): 2025-03-01 10:00:00.
function beijing(iso) {
  if (!iso) return "—";
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 19).replace("T", " ");
}

// A deadline that ends at midnight is shown as 24:00 of its last day, as the law counts it.
function due(iso) {
  const shown = beijing(iso);
  if (!shown.endsWith(" 00:00:00")) return shown;
  const day = new Date(Date.parse(iso) + 8 * 3600 * 1000 - 1000).toISOString().slice(0, 10);
  return `${day} 24:00:00`;
}

function percent(share) {
  return share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)}%`;
}

// Money as people write it: 1,568,600 元 (two decimals only where there are fen).
function yuan(amount) {
  if (amount === null || amount === undefined || amount === "") return "—";
  const n = Number(amount);
  const digits = Number.isInteger(n) ? 0 : 2;
  return `${n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })} 元`;
}

// A division code with its name from the rule pack's table: 北山街道（330106002）.
function place(code) {
  if (!code) return "—";
  const name = LABELS.divisions[code];
  return name ? `${name}（${code}）` : code;
}

function teamLabel(team) {
  return team || NO_TEAM;
}

function badge(severity) {
  const span = document.createElement("span");
  span.className = `badge ${severity}`;
  span.textContent = LABELS.severities[severity] || severity;
  const td = document.createElement("td");
  td.append(span);
  return td;
}

function stateLabel(stage, state) {
  return LABELS.events[`${stage}.${state}`] || state || "—";
}

// -- the API ---------------------------------------------------------------------------------
// What a refusal means, in words for people, with the field and value it names; the
// server's own detail (English, with the rule) is kept folded under 技术详情 for whoever
// must fix the request.
const FIELDS = {
  as_of: "截至时间", scope: "辖区前缀", case_id: "案件编号", subject_id: "证件号码",
  limit: "每页条数", cursor: "翻页位置", count_by: "计数方式", code: "预警类别",
  severity: "颜色", format: "导出格式", panel: "栏目", met_from: "起始时间", met_to: "截止时间",
};

const PROBLEMS = {
  UNAUTHENTICATED: "令牌无效或已过期，请重新登录。",
  OUT_OF_SCOPE: "无权查看：超出令牌的辖区，只能查看本辖区的案件和数据。",
  FORBIDDEN: "无权查看：此令牌的角色不能进行该操作。",
  NOT_FOUND: "未找到：请核对案件编号或证件号码。",
  SCHEMA_INVALID: "查询条件有误，请检查截至时间、辖区前缀等。",
  STORE_UNAVAILABLE: "事件存储暂不可用，请稍后再试。",
};

class Problem extends Error {
  constructor(status, body) {
    const code = body && body.code ? body.code : `HTTP ${status}`;
    const detail = body && body.detail ? body.detail : (typeof body === "string" ? body : "");
    const said = PROBLEMS[code] || (status === 0 ? "无法连接服务器。" : "请求未能完成。");
    const field = body && (body.field || (body.case_id ? "case_id" : null));
    const value = body && (body.field ? body.value : body.case_id);
    const named = field ? `${FIELDS[field] || field}${value !== undefined && value !== null
      ? `：${value}` : ""}。` : "";
    super(`${said}${named}（${code}）`);
    this.status = status;
    this.detail = detail;
  }
}

function urlOf(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  return url;
}

async function call(path, params = {}) {
  let response;
  try {
    response = await fetch(urlOf(path, params), {
      headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` },
    });
  } catch (err) {
    throw new Problem(0, err.message);
  }
  if (!response.ok) {
    const json = (response.headers.get("content-type") || "").includes("json");
    throw new Problem(response.status, json ? await response.json() : await response.text());
  }
  return response;
}

async function api(path, params = {}) {
  return (await call(path, params)).json();
}

// A page of a listing: its rows, the total and the cursor of the next page (from headers).
async function apiPage(path, params) {
  const response = await call(path, params);
  const body = await response.json();
  const rows = Array.isArray(body) ? body
    : (body.cases || body.breaches || body.devices || body.rows || []);
  return { body, rows, total: Number(response.headers.get("X-Total-Count") || body.total || rows.length),
           next: response.headers.get("X-Next-Cursor") || body.next_cursor || null };
}

// -- what went wrong, per part of the page ---------------------------------------------------
const problems = new Map();

function showProblem(where, err) {
  if (err) {
    problems.set(where, { said: err.message || String(err), detail: err.detail || "" });
  } else {
    problems.delete(where);
  }
  const box = $("problem");
  const distinct = new Map([...problems.values()].map((p) => [`${p.said}\n${p.detail}`, p]));
  box.replaceChildren(...[...distinct.values()].map(({ said, detail }) => {
    const line = document.createElement("div");
    const text = document.createElement("p");
    text.textContent = said;
    line.append(text);
    if (detail) {
      const more = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = "技术详情";
      const code = document.createElement("code");
      code.textContent = detail;
      more.append(summary, code);
      line.append(more);
    }
    return line;
  }));
  box.hidden = problems.size === 0;
}

// Requests of one part of the page are numbered; an older answer arriving after a newer
// request of that part is dropped.
const newest = {};

function begin(part) {
  newest[part] = (newest[part] || 0) + 1;
  return newest[part];
}

// `work`'s answer; null when it failed (the problem shown); undefined when a newer request
// of the same part was made meanwhile (its answer, not this one, is to be shown).
async function load(part, work) {
  const mine = begin(part);
  const stale = () => newest[part] !== mine;
  try {
    const shown = await work(stale);
    if (stale()) return undefined;
    showProblem(part, null);
    return shown;
  } catch (err) {
    if (stale()) return undefined;
    if (err.status === 401) signOut();
    showProblem(part, err);
    return null;
  }
}

// -- paging ----------------------------------------------------------------------------------
// A listing shown a page at a time: 上一页 / 下一页 walk the cursors the server gives.
class Pager {
  constructor(id, path, render) {
    this.element = $(id);
    this.path = path;
    this.render = render;
    this.cursors = [null];
    this.params = {};
  }

  // The first page for these parameters; nothing is drawn if `stale()` says a newer question
  // of the panel was asked meanwhile.
  reset(params, stale = () => false) {
    this.params = params;
    this.cursors = [null];
    return this.show(stale);
  }

  async show(stale = () => false) {
    const cursor = this.cursors[this.cursors.length - 1];
    const page = await apiPage(this.path, { ...this.params, limit: PAGE_SIZE, cursor });
    if (stale()) return page;
    this.render(page);
    this.next = page.next;
    const at = this.cursors.length;
    const first = (at - 1) * PAGE_SIZE + (page.rows.length ? 1 : 0);
    const text = document.createElement("span");
    text.textContent = `第 ${at} 页：第 ${first}–${(at - 1) * PAGE_SIZE + page.rows.length} 条，共 ${page.total} 条`;
    const back = this.button("上一页", at > 1, () => { this.cursors.pop(); this.show(); });
    const on = this.button("下一页", Boolean(page.next), () => { this.cursors.push(this.next); this.show(); });
    this.element.replaceChildren(back, text, on);
    return page;
  }

  button(label, enabled, action) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.disabled = !enabled;
    b.addEventListener("click", action);
    return b;
  }
}

// -- signing in ------------------------------------------------------------------------------
let principal = null;

async function signIn(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    principal = await api("/v1/whoami");
  } catch (err) {
    signOut();
    showProblem("sign-in", err);
    return;
  }
  showProblem("sign-in", null);
  const expiry = principal.expires_at ? `，有效期至 ${beijing(principal.expires_at)}` : "";
  $("who").textContent = `${principal.role_labels.join("、")} ${principal.principal}` +
    ` · 辖区 ${principal.scope ? place(principal.scope) : "全部"}${expiry}`;
  $("who").hidden = false;
  $("sign-out").hidden = false;
  $("sign-in").hidden = true;
  $("board").hidden = false;
  for (const part of document.querySelectorAll("[data-needs]")) {
    part.hidden = !principal.reads.includes(part.dataset.needs);
  }
  const supervises = principal.reads.includes("supervision");
  $("no-reads").hidden = supervises || principal.reads.includes("case");
  $("filters").hidden = !supervises;
  await route();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  problems.clear();
  showProblem("sign-in", null);
  principal = null;
  for (const id of ["who", "sign-out", "board", "case", "subject"]) $(id).hidden = true;
  $("sign-in").hidden = false;
  for (const id of ["token", "case-id", "subject-id", "scope", "as-of"]) $(id).value = "";
  loaded.clear();
  summaries.clear();
  if (window.location.hash) history.replaceState(null, "", window.location.pathname);
}

// -- tabs and the address --------------------------------------------------------------------
// The address says what is shown (#alerts, #case=HZ-…), so the browser's back button works.
let currentTab = null;
let returnTab = "overview";
const loaded = new Map(); // tab -> the filters it was last loaded with

function filters() {
  return { as_of: $("as-of").value, scope: $("scope").value.trim() };
}

function filterKey() {
  return JSON.stringify(filters());
}

async function route() {
  if (!principal) return;
  const hash = decodeURIComponent(window.location.hash.slice(1));
  const [tab, value] = hash.split("=");
  const supervises = principal.reads.includes("supervision");
  const fallback = supervises ? "overview" : "case";
  const wanted = document.querySelector(`[data-panel="${tab}"]`) ? tab : fallback;
  if (supervises) refreshHeadline();
  if (wanted === "case" && value) return openCase(value);
  if (wanted === "subject" && value) return openSubjectOfCase(value);
  return showTab(wanted);
}

function go(hash) {
  if (window.location.hash.slice(1) === hash) route();
  else window.location.hash = hash;
}

async function showTab(tab) {
  if (currentTab && currentTab !== "case" && currentTab !== "subject") returnTab = currentTab;
  currentTab = tab;
  for (const panel of document.querySelectorAll("[data-panel]")) {
    panel.hidden = panel.dataset.panel !== tab;
  }
  for (const button of document.querySelectorAll("#tabs button")) {
    button.setAttribute("aria-current", button.dataset.tab === tab ? "page" : "false");
  }
  const loader = LOADERS[tab];
  if (loader && loaded.get(tab) !== filterKey()) {
    loaded.set(tab, filterKey());
    await load(tab, loader);
  }
  if (tab === "overview") resizeCharts();
}

function refresh() {
  summaries.clear();  // 刷新 asks again, even for the same instant ("now" has moved on)
  // A new question: what went wrong with the last one no longer applies.
  for (const part of [...problems.keys()]) if (part !== "sign-in") showProblem(part, null);
  loaded.clear();
  refreshHeadline();
  if (currentTab) showTab(currentTab);
}

// The alert counts as of an instant inside a scope, by street: the headline, 概览's street
// grid and 预警's totals all read the same answer, asked once per question.
const summaries = new Map();

function alertSummary(asked) {
  const key = JSON.stringify(asked);
  if (!summaries.has(key)) {
    const answer = api("/v1/alerts/summary", { ...asked, by: "street" });
    answer.catch(() => summaries.delete(key));
    summaries.set(key, answer);
  }
  return summaries.get(key);
}

// -- the headline: counts by alert kind and colour, one click filters ----------------------
async function refreshHeadline() {
  await load("headline", async (stale) => {
    const asked = filters();
    const summary = await alertSummary(asked);
    if (stale()) return;
    $("headline").dataset.asOf = asked.as_of;  // the counts are as of this
    const byCode = new Map();
    const totals = { red: 0, yellow: 0, info: 0 };
    for (const c of summary.counts) {
      const counts = byCode.get(c.code) || { red: 0, yellow: 0, info: 0 };
      counts[c.severity] = (counts[c.severity] || 0) + c.count;
      totals[c.severity] = (totals[c.severity] || 0) + c.count;
      byCode.set(c.code, counts);
    }
    $("headline-totals").replaceChildren(...SEVERITY_ORDER.map((s) =>
      headlineButton(`${LABELS.severities[s]} ${totals[s]}`, `total ${s}`, "", s)));
    const kinds = [...byCode.entries()].sort((a, b) => b[1].red - a[1].red || b[1].yellow - a[1].yellow);
    $("headline-kinds").replaceChildren(...kinds.map(([code, counts]) => {
      const card = document.createElement("div");
      card.className = "kind";
      card.dataset.code = code;
      card.append(headlineButton(LABELS.alerts[code] || code, "name", code, ""));
      for (const s of SEVERITY_ORDER) {
        if (counts[s]) card.append(headlineButton(String(counts[s]), `count ${s}`, code, s));
      }
      return card;
    }));
  });
}

function headlineButton(text, className, code, severity) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = className;
  button.textContent = text;
  button.title = "查看这些预警";
  button.addEventListener("click", () => {
    $("alert-code").value = code;
    $("alert-severity").value = severity;
    loaded.delete("alerts");
    go("alerts");
  });
  return button;
}

// -- the panels -----------------------------------------------------------------------------
const pagers = {};

const LOADERS = {
  async overview(stale) {
    const f = filters();
    const [statistics, referrals, response, streets, byStage, byTeam] = await Promise.all([
      api("/v1/statistics", f), api("/v1/referrals", { ...f, limit: 1 }),
      api("/v1/response", f), alertSummary(f),
      api("/v1/board", { scope: f.scope, as_of: f.as_of, count_by: "stage" }),
      api("/v1/board", { scope: f.scope, as_of: f.as_of, count_by: "team" }),
    ]);
    if (stale()) return;
    fill("by-stage", Object.entries(byStage).map(([stage, n]) =>
      row(LABELS.stages[stage] || stage, cell(n, "number"))));
    fill("by-team", Object.entries(byTeam).map(([team, n]) =>
      row(team === "null" || team === "" ? NO_TEAM : team, cell(n, "number"))));
    drawCharts(statistics, referrals.rates || [], response, streets);
    $("overview-panel").dataset.asOf = f.as_of;  // what the charts show is as of this
  },

  async alerts(stale) {
    const f = filters();
    const code = $("alert-code").value;
    const severity = $("alert-severity").value;
    const summary = await alertSummary(f);
    if (stale()) return;
    const bySeverity = { red: 0, yellow: 0, info: 0 };
    let total = 0;
    for (const c of summary.counts) {
      if (code && c.code !== code) continue;
      bySeverity[c.severity] = (bySeverity[c.severity] || 0) + c.count;
      total += c.count;
    }
    $("alert-summary").textContent = `共 ${total} 条：` +
      SEVERITY_ORDER.map((s) => `${LABELS.severities[s]} ${bySeverity[s]}`).join("，");
    await pagers.alerts.reset({ ...f, code, severity }, stale);
  },

  async deadlines(stale) {
    const summary = await api("/v1/deadlines/summary", filters());
    if (stale()) return;
    const byCode = new Map();
    for (const d of summary.counts) {
      const counts = byCode.get(d.code) || { green: 0, yellow: 0, red: 0 };
      counts[d.severity] = (counts[d.severity] || 0) + d.count;
      byCode.set(d.code, counts);
    }
    fill("deadlines", [...byCode.entries()].map(([code, counts]) => {
      const tr = row(LABELS.alerts[code] || code,
        ...COLOURS.map((c) => cell(counts[c], `number ${c}`)),
        cell(COLOURS.reduce((sum, c) => sum + counts[c], 0), "number"));
      tr.dataset.code = code;
      return tr;
    }));
  },

  async referrals(stale) {
    const page = await pagers.referrals.reset(filters(), stale);
    if (stale()) return;
    fill("referral-rates", (page.body.rates || []).map((r) => row(teamLabel(r.team), place(r.district),
      cell(r.threshold_met, "number"), cell(r.transferred, "number"), cell(percent(r.rate), "number"))));
  },

  async breaches(stale) {
    const f = filters();
    const statistics = await api("/v1/statistics", f);
    if (stale()) return;
    const sorted = [...statistics.breaches].sort((a, b) => b.month.localeCompare(a.month)
      || String(a.team || "").localeCompare(String(b.team || "")) || a.code.localeCompare(b.code));
    fill("breach-months", sorted.map((b) => row(b.month, teamLabel(b.team),
      LABELS.alerts[b.code] || b.label, cell(b.count, "number"))));
    await pagers.breaches.reset({ scope: f.scope, to: f.as_of }, stale);
  },

  async response(stale) {
    const response = await api("/v1/response", filters());
    if (stale()) return;
    fill("response", response.map((r) => row(teamLabel(r.team), place(r.district),
      cell(r.urgent_clues, "number"), cell(percent(r.acknowledged_within_1_min), "number"),
      cell(percent(r.departed_within_3_min), "number"), cell(percent(r.arrived_within_15_min), "number"))));
  },

  async devices(stale) {
    const page = await pagers.devices.reset(filters(), stale);
    if (stale()) return;
    fill("device-districts", (page.body.districts || []).map((d) => row(place(d.district),
      cell(d.devices, "number"), cell(d.captures, "number"), cell(d.penalties, "number"))));
  },

  async statistics(stale) {
    const statistics = await api("/v1/statistics", filters());
    if (stale()) return;
    const months = monthTotals(statistics);
    fill("statistics", [...months.keys()].sort().map((month) =>
      row(month, ...METRICS.map(([m]) => cell(months.get(month)[m] || 0, "number")))));
    const until = statistics.until_month ? `（统计至 ${statistics.until_month}，该月计全月）` : "";
    $("first-cases").textContent = `首案突破（事项首次立案）：${statistics.first_cases.length} 项${until}`;
  },
};

function monthTotals(statistics) {
  const months = new Map();
  for (const c of statistics.counts) {
    const totals = months.get(c.month) || {};
    totals[c.metric] = (totals[c.metric] || 0) + c.count;
    months.set(c.month, totals);
  }
  return months;
}

function caseButton(caseId) {
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = caseId;
  open.addEventListener("click", () => go(`case=${caseId}`));
  const td = document.createElement("td");
  td.className = "nowrap";
  td.append(open);
  return td;
}

function alertRow(a) {
  const tr = row(badge(a.severity), cell(LABELS.alerts[a.code] || a.code, "nowrap"),
    caseButton(a.case_id), place(a.jurisdiction), cell(due(a.due_at), "nowrap"), a.detail);
  tr.dataset.code = a.code;
  return tr;
}

function referralStatus(c) {
  if (!c) return "—";
  if (c.status_label) return c.status_label;
  if (c.status) return LABELS.referrals[c.status] || c.status;
  return c.threshold_met ? "未报告移送" : "—";
}

function setUpPagers() {
  pagers.alerts = new Pager("alerts-pager", "/v1/alerts", (page) => fill("alerts", page.rows.map(alertRow)));
  pagers.referrals = new Pager("referrals-pager", "/v1/referrals", (page) => fill("referrals",
    page.rows.map((c) => row(caseButton(c.case_id), [c.subject_name, c.subject_id].filter(Boolean).join(" "),
      c.crime, c.reason, referralStatus(c), cell(beijing(c.known_at), "nowrap")))));
  pagers.devices = new Pager("devices-pager", "/v1/devices", (page) => fill("devices",
    page.rows.map((d) => row(d.device_id, DEVICE_KINDS[d.kind] || d.kind, d.location,
      d.approved ? "已通过" : "未通过", cell(beijing(d.published_at), "nowrap"),
      cell(d.retired_at ? beijing(d.retired_at) : "在用", "nowrap"), cell(d.captures, "number"),
      cell(d.reviewed, "number"), cell(d.informed, "number"), cell(d.penalties, "number")))));
  pagers.breaches = new Pager("breaches-pager", "/v1/breaches", (page) => fill("breaches",
    page.rows.map((b) => row(LABELS.alerts[b.code] || b.label, caseButton(b.case_id), teamLabel(b.team),
      cell(due(b.due_at), "nowrap"), cell(beijing(b.met_at), "nowrap"), b.lateness,
      b.officers.join("、")))));
}

// -- charts (Apache ECharts, served by this server) -----------------------------------------
const CHART_IDS = ["chart-trend", "chart-teams", "chart-streets"];

function chart(id) {
  const element = $(id);
  return echarts.getInstanceByDom(element) || echarts.init(element, null, { renderer: "canvas" });
}

function resizeCharts() {
  if (typeof echarts === "undefined") return;
  for (const id of CHART_IDS) {
    const instance = echarts.getInstanceByDom($(id));
    if (instance) instance.resize();
  }
}

function drawCharts(statistics, rates, response, streets) {
  if (typeof echarts === "undefined") {
    $("charts-missing").hidden = false;
    return;
  }
  const tooltip = { trigger: "axis", renderMode: "richText" };
  const months = monthTotals(statistics);
  const axis = [...months.keys()].sort();
  chart("chart-trend").setOption({
    tooltip, legend: { top: 0 }, grid: { left: 48, right: 16, top: 32, bottom: 28 },
    xAxis: { type: "category", data: axis }, yAxis: { type: "value", name: "件" },
    series: METRICS.map(([m, label]) => ({ name: label, type: "line", smooth: true,
      data: axis.map((month) => months.get(month)[m] || 0) })),
  }, true);

  const teams = new Map();
  const team = (name) => {
    const key = name || NO_TEAM;
    if (!teams.has(key)) teams.set(key, { met: 0, sent: 0, clues: 0, ack: 0, dep: 0, arr: 0 });
    return teams.get(key);
  };
  for (const r of rates) { const t = team(r.team); t.met += r.threshold_met; t.sent += r.transferred; }
  for (const r of response) {
    const t = team(r.team);
    t.clues += r.urgent_clues;
    t.ack += r.acknowledged_within_1_min * r.urgent_clues;
    t.dep += r.departed_within_3_min * r.urgent_clues;
    t.arr += r.arrived_within_15_min * r.urgent_clues;
  }
  const names = [...teams.keys()].filter((n) => n !== NO_TEAM).sort();
  const share = (n, d) => (d ? Math.round((1000 * n) / d) / 10 : null);
  chart("chart-teams").setOption({
    tooltip, legend: { top: 0 }, grid: { left: 48, right: 16, top: 32, bottom: 48 },
    xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: 30 } },
    yAxis: { type: "value", name: "%", max: 100 },
    series: [
      ["移送率", (t) => share(t.sent, t.met)], ["1分钟响应", (t) => share(t.ack, t.clues)],
      ["3分钟出发", (t) => share(t.dep, t.clues)], ["15分钟到场", (t) => share(t.arr, t.clues)],
    ].map(([label, value]) => ({ name: label, type: "bar", data: names.map((n) => value(teams.get(n))) })),
  }, true);

  const districts = new Map();
  for (const c of streets.counts) {
    const code = c.street || c.district || "";
    const district = code.slice(0, 6);
    if (!districts.has(district)) districts.set(district, new Map());
    const byStreet = districts.get(district);
    const s = byStreet.get(code) || { total: 0, red: 0 };
    s.total += c.count;
    if (c.severity === "red") s.red += c.count;
    byStreet.set(code, s);
  }
  const data = [...districts.entries()].map(([district, byStreet]) => ({
    name: LABELS.divisions[district] || district,
    children: [...byStreet.entries()].map(([code, s]) => ({
      name: `${code.length === 6 ? "区本级" : (LABELS.divisions[code] || code)} ${s.total}`,
      value: s.total, code,
      itemStyle: { color: redShade(s.red / s.total) } })),
  }));
  chart("chart-streets").setOption({
    tooltip: { renderMode: "richText" },
    series: [{ type: "treemap", data, roam: false, nodeClick: false, breadcrumb: { show: false },
      upperLabel: { show: true, height: 20 }, label: { show: true },
      levels: [{ itemStyle: { borderWidth: 2, gapWidth: 2, borderColor: "#fff" } },
        { itemStyle: { gapWidth: 1 } }] }],
  }, true);
}

// From pale yellow (no red alert) to deep red (all red).
function redShade(redShare) {
  const t = Math.max(0, Math.min(1, redShare || 0));
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${mix(250, 185)}, ${mix(220, 28)}, ${mix(120, 28)})`;
}

// -- export: any panel as Excel or CSV -----------------------------------------------------
function setUpExports() {
  for (const place of document.querySelectorAll(".exports")) {
    for (const [format, label] of [["xlsx", "导出 Excel"], ["csv", "导出 CSV"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.format = format;
      button.addEventListener("click", () => exportPanel(place.dataset.export, format));
      place.append(button);
    }
  }
}

async function exportPanel(panel, format) {
  await load(`export-${panel}`, async () => {
    const response = await call(`/v1/exports/${panel}`, { ...filters(), format });
    const disposition = response.headers.get("content-disposition") || "";
    const named = /filename\*=UTF-8''([^;]+)/.exec(disposition);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = named ? decodeURIComponent(named[1]) : `${panel}.${format}`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  });
}

// -- a case: what a supervisor acts on -------------------------------------------------------
function summaryEntry(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  return [dt, dd];
}

function pill(text, className) {
  const span = document.createElement("span");
  span.className = `pill ${className}`;
  span.textContent = text;
  return span;
}

async function openCase(caseId) {
  await showTab("case");
  $("case-id").value = caseId;
  $("case-back").hidden = false;
  const view = await load("case", () => api(`/v1/cases/${encodeURIComponent(caseId)}`,
    { as_of: filters().as_of }));
  if (view === undefined) return;
  if (view === null) { $("case").hidden = true; return; }
  const subject = view.subject || {};
  const referral = view.referral;
  const chain = view.chain || {};
  $("case-badges").replaceChildren(
    pill(`${view.stage_label || view.stage || ""} · ${stateLabel(view.stage, view.state)}`, "stage"),
    pill(chain.verified ? `✓ 哈希链校验通过（${chain.events} 个事件）` : `✗ 哈希链断裂：${chain.problem}`,
      chain.verified ? "verified" : "broken"),
    ...(view.alerts.length ? [pill(`预警 ${view.alerts.length} 条`, "warned")] : []));
  const register = document.createElement("button");
  register.type = "button";
  register.className = "link";
  register.id = "case-subject-link";
  register.textContent = "查看当事人档案（一户一档）";
  register.addEventListener("click", () => go(`subject=${view.case_id}`));
  const who = document.createElement("span");
  who.textContent = `${[subject.name, subject.id].filter(Boolean).join(" ")} `;
  who.append(register);
  const amounts = view.amounts || {};
  const fines = (amounts.fines || []).map((p) =>
    `${LABELS.penalties[p.kind] || p.kind}${p.amount ? " " + yuan(p.amount) : ""}`).join("，");
  $("case-summary").replaceChildren(
    ...summaryEntry("案件编号", view.case_id),
    ...summaryEntry("辖区", place(view.jurisdiction)),
    ...summaryEntry("当事人", subject.name || subject.id ? who : "—"),
    ...summaryEntry("事项编码", view.item_code),
    ...summaryEntry("行刑衔接", referralStatus(referral)),
    ...summaryEntry("涉嫌罪名", referral ? referral.crime : null),
    ...summaryEntry("达标依据", referral ? referral.reason : null),
    ...summaryEntry("涉案金额", yuan(amounts.amount_involved)),
    ...summaryEntry("违法所得", yuan(amounts.illegal_gains)),
    ...summaryEntry("处罚", fines),
    ...summaryEntry("已缴纳罚款", amounts.paid ? yuan(amounts.paid) : null),
    ...summaryEntry("事件数", view.seq),
    ...summaryEntry("截至时间", beijing(view.as_of)));
  fill("case-alerts", view.alerts.map((a) => row(badge(a.severity),
    cell(LABELS.alerts[a.code] || a.code, "nowrap"), cell(due(a.due_at), "nowrap"), a.detail)));
  fill("case-officers", (view.officers || []).map((o) => row([o.name, o.id].filter(Boolean).join(" "),
    o.cert_no, o.steps.join("、"))));
  fill("timeline", view.timeline.map((e) => {
    const actor = e.actor || {};
    const who = [LABELS.roles[actor.role] || actor.role, actor.id,
      actor.cert_no ? `执法证 ${actor.cert_no}` : null].filter(Boolean).join(" ");
    return row(cell(e.seq, "number"), e.label || LABELS.events[e.type] || e.type, who,
      LABELS.sources[e.source] || e.source, cell(beijing(e.occurred_at), "nowrap"),
      cell(beijing(e.recorded_at), "nowrap"), e.rules_version);
  }));
  $("case").hidden = false;
  $("case-panel").scrollIntoView();
}

// -- a subject's register (一户一档) ---------------------------------------------------------
async function openSubjectOfCase(caseId) {
  await showTab("subject");
  $("subject-back").hidden = false;
  $("subject-back").dataset.caseId = caseId;
  await showRegister(() => api(`/v1/cases/${encodeURIComponent(caseId)}/subject`,
    { as_of: filters().as_of }));
}

async function showRegister(ask) {
  const register = await load("subject", ask);
  if (register === undefined) return;
  if (register === null) { $("subject").hidden = true; return; }
  $("subject-id").value = register.subject_id;
  const colour = LABELS.severities[register.colour] || register.colour;
  $("subject-summary").replaceChildren(
    ...summaryEntry("当事人", [register.name, register.subject_id].filter(Boolean).join(" ")),
    ...summaryEntry("三色管理", [colour, register.colour_reason].filter(Boolean).join("：")),
    ...summaryEntry("罚款合计", yuan(register.fines_total)),
    ...summaryEntry("年度检查次数", register.inspections_per_year.map(
      (y) => `${y.year} 年 ${y.inspections} 次（联合检查 ${y.joint} 次）`).join("，")),
    ...summaryEntry("预警", register.alerts.map(
      (a) => `${LABELS.alerts[a.code] || a.code}（${a.case_id}）`).join("，")));
  fill("subject-cases", register.cases.map((c) => row(caseButton(c.case_id), place(c.jurisdiction),
    teamLabel(c.team), c.item_code, c.act_date, c.referral_status_label)));
  fill("subject-decisions", register.decisions.map((d) => row(cell(beijing(d.decided_at), "nowrap"),
    caseButton(d.case_id), d.item_code, OUTCOMES[d.outcome] || d.outcome, cell(yuan(d.fine), "number"))));
  $("subject").hidden = false;
}

// -- wiring -----------------------------------------------------------------------------------
function start() {
  const select = $("alert-code");
  for (const [code, label] of Object.entries(LABELS.alerts)) {
    const option = document.createElement("option");
    option.value = code;
    option.textContent = `${label}（${code}）`;
    select.append(option);
  }
  setUpPagers();
  setUpExports();
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  for (const id of ["alert-code", "alert-severity"]) {
    $(id).addEventListener("change", () => { loaded.delete("alerts"); showTab("alerts"); });
  }
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => go(button.dataset.tab));
  }
  let timer = null;
  $("auto-refresh").addEventListener("change", (event) => {
    clearInterval(timer);
    timer = event.target.checked ? setInterval(refresh, 60_000) : null;
  });
  $("case-form").addEventListener("submit", (event) => {
    event.preventDefault();
    go(`case=${$("case-id").value.trim()}`);
  });
  $("case-back").addEventListener("click", () => go(returnTab));
  $("subject-back").addEventListener("click", () => go(`case=${$("subject-back").dataset.caseId}`));
  $("subject-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("subject-back").hidden = true;
    const id = $("subject-id").value.trim();
    showRegister(() => api(`/v1/subjects/${encodeURIComponent(id)}`, { as_of: filters().as_of }));
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("resize", resizeCharts);
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept);
}

start();
