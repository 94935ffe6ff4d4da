// The dashboard: active signals kept live over the WebSocket, analysis requests followed by
// correlation id, the performance record and a price chart for the selected signal.
"use strict";

const config = JSON.parse(document.getElementById("dashboard-config").textContent);
const $ = (selector) => document.querySelector(selector);
const priceFormat = new Intl.NumberFormat(undefined, {maximumSignificantDigits: 6});
const timeFormat = new Intl.DateTimeFormat(undefined, {dateStyle: "short", timeStyle: "short"});

// After a reconnect, ask for events from a little before the last one seen: a transaction that
// committed late may carry an earlier timestamp. Handlers are idempotent, so repeats are harmless.
const CATCH_UP_MARGIN_MS = 60_000;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;
// If no analysis event arrives this soon (feed down?), poll the status_url instead.
const POLL_AFTER_MS = 4_000;
const POLL_EVERY_MS = 2_000;
const MAX_PAGES = 20;

class ApiError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function api(url, options = {}) {
  const response = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: {"Accept": "application/json", "X-CSRFToken": config.csrf_token, ...options.headers},
  });
  const body = await response.json().catch(() => null);
  // A GET refused means the session is gone (a refused POST may just be a CSRF problem).
  if ((response.status === 401 || response.status === 403) && !options.method) loggedOut();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Every page of a paginated list, up to MAX_PAGES.
async function allPages(url) {
  const results = [];
  for (let page = 0; url && page < MAX_PAGES; page++) {
    const body = await api(url);
    results.push(...body.results);
    url = body.next;
  }
  return results;
}

function query(url, params) {
  return `${url}?${new URLSearchParams(params)}`;
}

function cell(row, label, content, className = "") {
  const td = row.insertCell();
  td.dataset.label = label;
  td.textContent = content;
  if (className) td.className = className;
  return td;
}

// ---- active signals ----

const activeSignals = new Map();
let selectedId = null;

function upsertSignal(signal, {flash = false} = {}) {
  const isNew = !activeSignals.has(signal.id);
  if (signal.status === "active") activeSignals.set(signal.id, signal);
  else activeSignals.delete(signal.id);
  renderSignals(flash && isNew && signal.status === "active" ? signal.id : null);
  if (signal.status === "active" && (selectedId === null || !activeSignals.has(selectedId))) {
    selectSignal(signal.id);
  }
}

function renderSignals(flashId = null) {
  const rows = [...activeSignals.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
  const tbody = $("#signals tbody");
  tbody.replaceChildren();
  for (const s of rows) {
    const tr = tbody.insertRow();
    tr.dataset.id = s.id;
    tr.dataset.asset = s.asset;
    tr.tabIndex = 0;
    tr.classList.toggle("selected", s.id === selectedId);
    if (s.id === flashId) tr.classList.add("flash");
    cell(tr, "Asset", s.asset, "asset");
    cell(tr, "Direction", s.direction, `dir ${s.direction}`);
    cell(tr, "Strategy", s.strategy.replaceAll("_", " "));
    cell(tr, "Timeframe", s.timeframe);
    cell(tr, "Entry", priceFormat.format(s.entry_price), "num");
    cell(tr, "Stop", priceFormat.format(s.stop_loss), "num");
    cell(tr, "Target", priceFormat.format(s.take_profit), "num");
    cell(tr, "Confidence", `${Math.round(s.confidence * 100)}%`, "num");
    cell(tr, "Created", timeFormat.format(new Date(s.created_at)));
  }
  $("#active-count").textContent = rows.length;
  $("#signals-empty").hidden = rows.length > 0;
  if (selectedId !== null && !activeSignals.has(selectedId)) selectSignal(rows[0]?.id ?? null);
}

async function loadActive() {
  const signals = await allPages(config.urls.active);
  activeSignals.clear();
  for (const s of signals) activeSignals.set(s.id, s);
  renderSignals();
  if (selectedId === null && signals.length) selectSignal(signals[0].id);
}

function onRowChosen(event) {
  const row = event.target.closest("tr[data-id]");
  if (!row || (event.type === "keydown" && event.key !== "Enter")) return;
  selectSignal(row.dataset.id);
}

// ---- price chart for the selected signal ----

let chartRequest = 0;
let lastChart = null;

async function selectSignal(id) {
  selectedId = id;
  for (const tr of document.querySelectorAll("#signals tbody tr")) {
    tr.classList.toggle("selected", tr.dataset.id === id);
  }
  const signal = activeSignals.get(id);
  const svg = $("#price-chart");
  if (!signal) {
    $("#chart-title").textContent = "";
    lastChart = null;
    svg.replaceChildren();
    return;
  }
  $("#chart-title").textContent = `${signal.asset} ${signal.timeframe} · ${signal.direction}`;
  const request = ++chartRequest;
  try {
    const candles = await api(query(config.urls.candles,
      {asset: signal.asset, timeframe: signal.timeframe, limit: 120}));
    if (request !== chartRequest) return;  // another signal was chosen meanwhile
    lastChart = () => Charts.candles(svg, candles, [
      {label: "Target", value: signal.take_profit, kind: "target"},
      {label: "Entry", value: signal.entry_price, kind: "entry"},
      {label: "Stop", value: signal.stop_loss, kind: "stop"},
    ], signal.candle_time);
    lastChart();
  } catch (error) {
    if (request !== chartRequest) return;
    lastChart = null;
    const detail = error.body?.detail || error.message;
    Charts.line(svg, [], {emptyMessage: `Candles unavailable: ${detail}`});
  }
}

// ---- analysis requests, followed by correlation id ----

const analyses = new Map();
// Events by correlation id, kept even before the POST answers: a fast worker can finish first.
const analysisEvents = new Map();
const MAX_TRACKED_ANALYSES = 200;

function noteAnalysisEvent(event) {
  const id = event.correlation_id;
  if (!id) return;
  const seen = analysisEvents.get(id) || {found: new Set(), final: null};
  if (event.event_type === "SignalGenerated") seen.found.add(event.data.id);
  else seen.final = event;
  analysisEvents.set(id, seen);
  if (analysisEvents.size > MAX_TRACKED_ANALYSES) {
    analysisEvents.delete(analysisEvents.keys().next().value);
  }
  showAnalysisEvents(id);
}

function showAnalysisEvents(id) {
  const seen = analysisEvents.get(id);
  if (!seen || !analyses.has(id)) return;
  if (seen.final?.event_type === "AnalysisCompleted") finishAnalysis(id, "completed", seen.final.data);
  else if (seen.final?.event_type === "AnalysisFailed") finishAnalysis(id, "failed", seen.final.data);
  else if (seen.found.size) setAnalysisState(id, "running", `running: ${seen.found.size} signal(s)…`);
}

function analysisItem(id, asset, timeframe) {
  const li = document.createElement("li");
  li.dataset.correlationId = id;
  const title = document.createElement("strong");
  title.textContent = `${asset} ${timeframe}`;
  const state = document.createElement("span");
  state.className = "state";
  const ref = document.createElement("code");
  ref.textContent = id.slice(0, 8);
  ref.title = id;
  li.append(title, " ", state, " ", ref);
  $("#analyses").prepend(li);
  while ($("#analyses").children.length > 8) $("#analyses").lastElementChild.remove();
  return li;
}

function setAnalysisState(id, state, message) {
  const analysis = analyses.get(id);
  if (!analysis || analysis.state === "completed" || analysis.state === "failed") return;
  analysis.state = state;
  analysis.li.className = `analysis ${state}`;
  analysis.li.querySelector(".state").textContent = message;
  if (state === "completed" || state === "failed") clearTimeout(analysis.timer);
}

function finishAnalysis(id, status, data) {
  if (status === "completed") {
    const n = data.signals_generated;
    setAnalysisState(id, "completed", `completed: ${n} new signal${n === 1 ? "" : "s"}`);
  } else {
    setAnalysisState(id, "failed", `failed: ${data.reason || data.error || "unknown reason"}`);
  }
}

// The fallback when the live feed says nothing: the analysis' own status URL.
async function pollAnalysis(id, statusUrl) {
  const analysis = analyses.get(id);
  if (!analysis || analysis.state === "completed" || analysis.state === "failed") return;
  try {
    const body = await api(statusUrl);
    if (body.status === "completed" || body.status === "failed") {
      finishAnalysis(id, body.status, body);
      if (body.signals_generated) loadActive();
      return;
    }
    setAnalysisState(id, body.status, `${body.status}…`);
  } catch (error) {
    setAnalysisState(id, "pending", `waiting (status: ${error.message})`);
  }
  analysis.timer = setTimeout(() => pollAnalysis(id, statusUrl), POLL_EVERY_MS);
}

async function requestAnalysis(event) {
  event.preventDefault();
  const form = event.target;
  const asset = form.asset.value.trim().toUpperCase();
  const timeframe = form.timeframe.value;
  const error = $("#analysis-error");
  error.textContent = "";
  form.querySelector("button").disabled = true;
  try {
    const body = await api(config.urls.request_analysis, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({asset, timeframe}),
    });
    const id = body.correlation_id;
    const li = analysisItem(id, asset, timeframe);
    analyses.set(id, {li, state: "pending",
                      timer: setTimeout(() => pollAnalysis(id, body.status_url), POLL_AFTER_MS)});
    setAnalysisState(id, "pending", "queued…");
    showAnalysisEvents(id);
  } catch (failure) {
    const body = failure.body || {};
    error.textContent = Object.entries(body)
      .map(([field, messages]) => `${field}: ${[].concat(messages).join(" ")}`)
      .join(" ") || failure.message;
  } finally {
    form.querySelector("button").disabled = false;
  }
}

// ---- performance ----

let lastEquity = null;
let performanceTimer = null;

async function loadPerformance() {
  const summary = await api(config.urls.performance);
  const growth = summary.compounded_return_percent;
  const percent = (value) => (value === null || value === undefined
    ? "–" : `${(Number(value) * 100).toFixed(1)}%`);
  const stats = [
    ["Signals", summary.total_signals],
    ["Wins", summary.winning_signals],
    ["Losses", summary.losing_signals],
    ["Win rate", percent(summary.win_rate)],
    ["Return", growth === null || growth === undefined
      ? "–" : `${growth >= 0 ? "+" : ""}${Number(growth).toFixed(2)}%`],
  ];
  $("#performance").replaceChildren(...stats.map(([label, value]) => {
    const div = document.createElement("div");
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    if (label === "Return" && growth !== null && growth !== undefined) {
      dd.className = growth >= 0 ? "long" : "short";
    }
    div.append(dt, dd);
    return div;
  }));
  // The daily capital (stake_percent staked per signal), as percent gained since the start.
  const points = (summary.equity_curve ?? []).map((p) => ({
    time: `${p.date}T23:59:59Z`, value: (p.equity - 1) * 100,
  }));
  const svg = $("#equity-chart");
  lastEquity = () => Charts.line(svg, points, {emptyMessage: "No closed signals yet", unit: "%"});
  lastEquity();
}

function refreshPerformanceSoon() {
  clearTimeout(performanceTimer);
  performanceTimer = setTimeout(() => loadPerformance().catch(console.error), 1_000);
}

// ---- the live feed ----

const live = {
  socket: null, attempts: 0, opened: false, stopped: false, lastTimestamp: config.server_time,
};
let reconnectTimer = null;

function setConnection(state, message) {
  const badge = $("#connection");
  badge.className = `connection ${state}`;
  badge.textContent = message;
  document.body.dataset.connection = state;
}

function loggedOut() {
  live.stopped = true;
  if (live.socket) live.socket.close();
  setConnection("offline", "Logged out: reload to log in again");
}

function connect() {
  if (live.stopped) return;
  clearTimeout(reconnectTimer);
  setConnection("connecting", live.attempts ? "Reconnecting…" : "Connecting…");
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${config.ws_path}`);
  live.socket = socket;
  live.opened = false;
  socket.onopen = () => {
    live.opened = true;
    live.attempts = 0;
    setConnection("live", "Live");
    const after = new Date(new Date(live.lastTimestamp).getTime() - CATCH_UP_MARGIN_MS);
    socket.send(JSON.stringify({action: "since", after: after.toISOString()}));
  };
  socket.onmessage = (message) => handleEvent(JSON.parse(message.data));
  socket.onclose = () => {
    if (live.socket !== socket || live.stopped) return;
    // Refused before opening: maybe the session ended; the REST call finds out (403).
    if (!live.opened) api(config.urls.performance).catch(() => {});
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** live.attempts)
      * (0.75 + Math.random() / 2);
    live.attempts += 1;
    setConnection("offline", `Offline: retrying in ${Math.round(delay / 1000)} s`);
    reconnectTimer = setTimeout(connect, delay);
  };
}

function handleEvent(event) {
  if (Date.parse(event.timestamp) > Date.parse(live.lastTimestamp)) {
    live.lastTimestamp = event.timestamp;
  }
  const data = event.data || {};
  switch (event.event_type) {
    case "SignalGenerated":
      upsertSignal(data, {flash: true});
      noteAnalysisEvent(event);
      refreshPerformanceSoon();
      break;
    case "SignalClosed":
      upsertSignal(data);
      refreshPerformanceSoon();
      break;
    case "AnalysisCompleted":
    case "AnalysisFailed":
      noteAnalysisEvent(event);
      break;
    case "HealthCheck":
      $("#heartbeat").textContent = `heartbeat ${timeFormat.format(new Date(event.timestamp))}`;
      break;
    case "caught_up":
      if (data.truncated) loadActive().catch(console.error);
      break;
    case "error":
      console.warn("live feed:", data.error);
      break;
  }
}

// ---- start ----

$("#analysis-form").addEventListener("submit", requestAnalysis);
$("#signals tbody").addEventListener("click", onRowChosen);
$("#signals tbody").addEventListener("keydown", onRowChosen);
window.addEventListener("online", () => {
  if (!live.socket || live.socket.readyState === WebSocket.CLOSED) connect();
});
let resizeTimer = null;
new ResizeObserver(() => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { lastChart?.(); lastEquity?.(); }, 100);
}).observe($("main"));

loadActive().catch(console.error);
loadPerformance().catch(console.error);
connect();
