// CaseChain 执法监督看板. `LABELS` (zh-CN display labels) is prepended by the server from the
// domain's own tables. Everything shown comes from the /v1 API with the user's bearer token;
// text from the log is always set with textContent, never parsed as HTML.
"use strict";

const TOKEN_KEY = "casechain.token";
const SHOWN_ALERTS = 200;
const METRICS = ["filed", "decided", "closed", "referred"];
const OUTCOMES = { penalty: "给予处罚", no_penalty: "不予处罚" };

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "—" : String(text);
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

class Problem extends Error {
  constructor(status, body) {
    const code = body && body.code ? body.code : `HTTP ${status}`;
    const title = body && body.title ? body.title : "";
    const detail = body && body.detail ? body.detail : (typeof body === "string" ? body : "");
    super(`${title}（${code}）${detail ? "：" + detail : ""}`);
    this.status = status;
  }
}

async function api(path, params = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value) url.searchParams.set(key, value);
  }
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` },
    });
  } catch (err) {
    throw new Problem(0, `无法连接服务器：${err.message}`);
  }
  const json = (response.headers.get("content-type") || "").includes("json");
  const body = json ? await response.json() : await response.text();
  if (!response.ok) throw new Problem(response.status, body);
  return body;
}

// What went wrong, per part of the page: a panel's success clears its own message only.
const problems = new Map();

function showProblem(where, err) {
  if (err) {
    const prefix = err.status === 401 ? "令牌无效或已过期，请重新登录。"
      : err.status === 403 ? "无权查看。" : err.status === 503 ? "事件存储暂不可用，请稍后再试。" : "";
    problems.set(where, prefix + (err.message || String(err)));
  } else {
    problems.delete(where);
  }
  const box = $("problem");
  box.replaceChildren(...[...problems.values()].map((message) => {
    const line = document.createElement("p");
    line.textContent = message;
    return line;
  }));
  box.hidden = problems.size === 0;
}

// Requests of one part of the page are numbered; the answer to an older one that arrives
// after a newer one is dropped.
const newest = {};

function begin(part) {
  newest[part] = (newest[part] || 0) + 1;
  return newest[part];
}

function stale(part, number) {
  return newest[part] !== number;
}

function failed(part, err) {
  if (err.status === 401) signOut();
  showProblem(part, err);
}

// The answer for the part of the page with this id (its element hidden and the problem
// shown when the request fails), or null when it failed or a newer request of that part
// was made meanwhile.
async function newestAnswer(part, path, params = {}) {
  const mine = begin(part);
  try {
    const body = await api(path, params);
    if (stale(part, mine)) return null;
    showProblem(part, null);
    return body;
  } catch (err) {
    if (!stale(part, mine)) {
      $(part).hidden = true;
      failed(part, err);
    }
    return null;
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
    ` · 辖区 ${principal.scope || "全部"}${expiry}`;
  $("who").hidden = false;
  $("sign-out").hidden = false;
  $("sign-in").hidden = true;
  $("board").hidden = false;
  for (const panel of document.querySelectorAll("[data-needs]")) {
    panel.hidden = !principal.reads.includes(panel.dataset.needs);
  }
  $("no-reads").hidden = principal.reads.includes("supervision") || principal.reads.includes("case");
  $("filters").hidden = !principal.reads.includes("supervision");
  await refresh();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  problems.clear();
  showProblem("sign-in", null);
  principal = null;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("board").hidden = true;
  $("case").hidden = true;
  $("subject").hidden = true;
  $("sign-in").hidden = false;
  $("token").value = "";
}

// -- the supervision panels -------------------------------------------------------------------
function filters() {
  return { as_of: $("as-of").value, scope: $("scope").value.trim() };
}

async function refresh() {
  if (!principal || !principal.reads.includes("supervision")) return;
  const { as_of: asOf, scope } = filters();
  const mine = begin("refresh");
  try {
    // Counts first (the summaries), rows on demand: the most urgent alerts a page at a time.
    const code = $("alert-code").value;
    const [deadlines, alertCounts, alerts, referrals, byStage, byTeam, statistics, response] = await Promise.all([
      api("/v1/deadlines/summary", { as_of: asOf, scope }),
      api("/v1/alerts/summary", { as_of: asOf, scope }),
      mostUrgent({ as_of: asOf, scope, code }),
      api("/v1/referrals", { as_of: asOf, scope, limit: 10000 }),
      api("/v1/board", { scope, count_by: "stage" }),
      api("/v1/board", { scope, count_by: "team" }),
      api("/v1/statistics", { scope }),
      api("/v1/response", { scope }),
    ]);
    if (stale("refresh", mine)) return;
    showProblem("refresh", null);
    showDeadlines(deadlines);
    showAlerts(alertCounts, alerts, code);
    showReferrals(referrals);
    fill("by-stage", Object.entries(byStage).map(([stage, n]) =>
      row(LABELS.stages[stage] || stage, cell(n, "number"))));
    fill("by-team", Object.entries(byTeam).map(([team, n]) => row(team, cell(n, "number"))));
    showStatistics(statistics);
    fill("response", response.map((r) => row(r.team, r.district, cell(r.urgent_clues, "number"),
      cell(percent(r.acknowledged_within_1_min), "number"),
      cell(percent(r.departed_within_3_min), "number"),
      cell(percent(r.arrived_within_15_min), "number"))));
  } catch (err) {
    if (!stale("refresh", mine)) failed("refresh", err);
  }
}

const COLOURS = ["green", "yellow", "red"];

// The first SHOWN_ALERTS alerts, red ones first, then yellow, then info (each in due order):
// one page of each colour at most, never the whole listing.
async function mostUrgent(params) {
  const shown = [];
  for (const severity of ["red", "yellow", "info"]) {
    if (shown.length >= SHOWN_ALERTS) break;
    shown.push(...await api("/v1/alerts", { ...params, severity, limit: SHOWN_ALERTS - shown.length }));
  }
  return shown;
}

function showDeadlines(summary) {
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
}

function showAlerts(summary, alerts, code) {
  const bySeverity = { red: 0, yellow: 0, info: 0 };
  let total = 0;
  for (const c of summary.counts) {
    if (code && c.code !== code) continue;
    bySeverity[c.severity] = (bySeverity[c.severity] || 0) + c.count;
    total += c.count;
  }
  $("alert-summary").textContent = `共 ${total} 条：` +
    Object.entries(bySeverity).map(([s, n]) => `${LABELS.severities[s] || s} ${n}`).join("，");
  fill("alerts", alerts.map((a) => {
    const tr = row(badge(a.severity), cell(LABELS.alerts[a.code] || a.code, "nowrap"),
      caseButton(a.case_id),
      a.jurisdiction, cell(due(a.due_at), "nowrap"), a.detail);
    tr.dataset.code = a.code;
    return tr;
  }));
  $("alerts-more").textContent = total > alerts.length
    ? `仅显示最紧急的 ${alerts.length} 条；按预警类型或辖区筛选以缩小范围。` : "";
}

function caseButton(caseId) {
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = caseId;
  open.addEventListener("click", () => showCase(caseId));
  const td = document.createElement("td");
  td.className = "nowrap";
  td.append(open);
  return td;
}

// Cases not yet reported for transfer first (应移未移 is what supervisors look for).
function showReferrals(referrals) {
  fill("referral-rates", referrals.rates.map((r) => row(r.team, r.district,
    cell(r.threshold_met, "number"), cell(r.transferred, "number"), cell(percent(r.rate), "number"))));
  const pending = (c) => (c.status ? 1 : 0);
  const sorted = [...referrals.cases].sort((a, b) => pending(a) - pending(b)
    || String(a.known_at).localeCompare(String(b.known_at)));
  fill("referrals", sorted.slice(0, SHOWN_ALERTS).map((c) => row(caseButton(c.case_id),
    [c.subject_name, c.subject_id].filter(Boolean).join(" "), c.crime, c.reason,
    c.status_label || LABELS.referrals[c.status] || "未报告移送", cell(beijing(c.known_at), "nowrap"))));
  $("referrals-more").textContent = referrals.total > SHOWN_ALERTS
    ? `共 ${referrals.total} 件，仅显示前 ${SHOWN_ALERTS} 件。` : `共 ${referrals.total} 件。`;
}

function showStatistics(statistics) {
  const months = new Map();
  for (const c of statistics.counts) {
    const totals = months.get(c.month) || {};
    totals[c.metric] = (totals[c.metric] || 0) + c.count;
    months.set(c.month, totals);
  }
  fill("statistics", [...months.keys()].sort().map((month) =>
    row(month, ...METRICS.map((m) => cell(months.get(month)[m] || 0, "number")))));
  $("first-cases").textContent = `首案突破（事项首次立案）：${statistics.first_cases.length} 项`;
  showBreaches(statistics.breaches);
}

// Deadlines met late, per month, team and deadline: the newest months first.
function showBreaches(breaches) {
  const sorted = [...breaches].sort((a, b) => b.month.localeCompare(a.month)
    || String(a.team || "").localeCompare(String(b.team || "")) || a.code.localeCompare(b.code));
  fill("breaches", sorted.slice(0, SHOWN_ALERTS).map((b) => row(b.month, b.team || "—",
    LABELS.alerts[b.code] || b.label, cell(b.count, "number"))));
  const total = breaches.reduce((sum, b) => sum + b.count, 0);
  $("breaches-total").textContent = `共 ${total} 次逾期完成（完整记录：casechain breaches，GET /v1/breaches）。`;
}

// -- a case and its audit trail ---------------------------------------------------------------
function summaryEntry(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  return [dt, dd];
}

async function showCase(caseId) {
  $("case-id").value = caseId;
  const view = await newestAnswer("case", `/v1/cases/${encodeURIComponent(caseId)}`);
  if (view === null) return;
  const subject = view.subject || {};
  const referral = view.referral_state ? (LABELS.referrals[view.referral_state] || view.referral_state)
    : null;
  $("case-summary").replaceChildren(
    ...summaryEntry("案件编号", view.case_id),
    ...summaryEntry("阶段", view.stage_label || view.stage),
    ...summaryEntry("状态", stateLabel(view.stage, view.state)),
    ...summaryEntry("行刑衔接", referral),
    ...summaryEntry("辖区", view.jurisdiction),
    ...summaryEntry("当事人", [subject.name, subject.id].filter(Boolean).join(" ")),
    ...summaryEntry("事项编码", view.item_code),
    ...summaryEntry("事件数", view.seq));
  fill("timeline", view.timeline.map((e) => {
    const actor = e.actor || {};
    const who = [LABELS.roles[actor.role] || actor.role, actor.id].filter(Boolean).join(" ");
    return row(cell(e.seq, "number"), e.label || LABELS.events[e.type] || e.type, who, e.source,
      cell(beijing(e.occurred_at), "nowrap"), cell(beijing(e.recorded_at), "nowrap"),
      e.rules_version);
  }));
  $("case").hidden = false;
  $("case-panel").scrollIntoView();
}

// -- a subject's register (一户一档) ---------------------------------------------------------
async function showSubject(subjectId) {
  $("subject-id").value = subjectId;
  const register = await newestAnswer("subject", `/v1/subjects/${encodeURIComponent(subjectId)}`,
    { as_of: filters().as_of });
  if (register === null) return;
  const colour = LABELS.severities[register.colour] || register.colour;
  $("subject-summary").replaceChildren(
    ...summaryEntry("当事人", [register.name, register.subject_id].filter(Boolean).join(" ")),
    ...summaryEntry("三色管理", [colour, register.colour_reason].filter(Boolean).join("：")),
    ...summaryEntry("罚款合计（元）", register.fines_total),
    ...summaryEntry("年度检查次数", register.inspections_per_year.map(
      (y) => `${y.year} 年 ${y.inspections} 次（联合检查 ${y.joint} 次）`).join("，")),
    ...summaryEntry("预警", register.alerts.map(
      (a) => `${LABELS.alerts[a.code] || a.code}（${a.case_id}）`).join("，")));
  fill("subject-cases", register.cases.map((c) => row(caseButton(c.case_id), c.jurisdiction,
    c.team, c.item_code, c.act_date, c.referral_status
      ? (LABELS.referrals[c.referral_status] || c.referral_status) : null)));
  fill("subject-decisions", register.decisions.map((d) => row(cell(beijing(d.decided_at), "nowrap"),
    caseButton(d.case_id), d.item_code, OUTCOMES[d.outcome] || d.outcome,
    cell(d.fine, "number"))));
  $("subject").hidden = false;
  $("subject-panel").scrollIntoView();
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
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("token").value.trim());
  });
  $("sign-out").addEventListener("click", signOut);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  select.addEventListener("change", refresh);
  let timer = null;
  $("auto-refresh").addEventListener("change", (event) => {
    clearInterval(timer);
    timer = event.target.checked ? setInterval(refresh, 60_000) : null;
  });
  $("subject-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showSubject($("subject-id").value.trim());
  });
  $("case-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showCase($("case-id").value.trim());
  });
  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept);
}

start();
