// The overview: active signals kept live, analysis requests followed by correlation id (recent
// ones loaded from the API, so they survive a reload), the last 30 days' record and a price
// chart of the selected signal.
"use strict";

// If no analysis event arrives this soon (feed down?), poll the status_url instead.
const POLL_AFTER_MS = 4_000;
const POLL_EVERY_MS = 2_000;
const RECENT_ANALYSES = 8;
const SUMMARY_FIGURES = ["total_signals", "win_rate", "expectancy_r", "compounded_return_percent"];

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
    tr.classList.toggle("selected", s.id === selectedId);
    if (s.id === flashId) tr.classList.add("flash");
    cell(tr, _("Asset"), element("a", {href: signalUrl(s.id)}, s.asset), "asset");
    cell(tr, _("Direction"), show.label(s.direction), `dir ${s.direction}`);
    cell(tr, _("Strategy"), show.strategy(s.strategy));
    cell(tr, _("Timeframe"), s.timeframe);
    cell(tr, _("Entry"), show.price(s.entry_price), "num");
    cell(tr, _("Stop"), show.price(s.stop_loss), "num");
    cell(tr, _("Target"), show.price(s.take_profit), "num");
    cell(tr, _("Strength"), show.strength(s.strength ?? s.confidence), "num");
    cell(tr, _("Probability"), show.ratio(s.probability), "num");
    cell(tr, _("Created"), show.time(s.created_at));
    const chartButton = element("button", {type: "button", className: "link-button",
                                           "aria-label": format(_("Chart %(asset)s"), {asset: s.asset})},
                                _("Chart"));
    cell(tr, "", chartButton);
  }
  $("#active-count").textContent = Formats.integer.format(rows.length);
  $("#signals-empty").hidden = rows.length > 0;
  if (selectedId !== null && !activeSignals.has(selectedId)) selectSignal(rows[0]?.id ?? null);
}

async function loadActive() {
  const signals = await allPages(query(config.urls.active, {source: config.source}));
  activeSignals.clear();
  for (const s of signals) activeSignals.set(s.id, s);
  renderSignals();
  if (selectedId === null) selectSignal(signals[0]?.id ?? null);
}

function onChartChosen(event) {
  const button = event.target.closest("button.link-button");
  if (button) selectSignal(button.closest("tr[data-id]").dataset.id);
}

// ---- price chart of the selected signal ----

let chartRequest = 0;

async function selectSignal(id) {
  selectedId = id;
  for (const tr of $$("#signals tbody tr")) tr.classList.toggle("selected", tr.dataset.id === id);
  const signal = activeSignals.get(id);
  const container = $("#price-chart");
  if (!signal) {
    $("#chart-title").textContent = "";
    Charts.empty(container, _("No signal selected"));
    return;
  }
  $("#chart-title").textContent =
    `${signal.asset} ${signal.timeframe} · ${show.label(signal.direction)}`;
  const request = ++chartRequest;
  try {
    const candles = await api(query(config.urls.candles,
      {asset: signal.asset, timeframe: signal.timeframe, limit: 120}));
    if (request !== chartRequest) return;  // another signal was chosen meanwhile
    Charts.candles(container, candles, {
      levels: [
        {label: _("Target"), price: signal.take_profit, kind: "target"},
        {label: _("Entry"), price: signal.entry_price, kind: "entry"},
        {label: _("Stop"), price: signal.stop_loss, kind: "stop"},
      ],
      markers: [{time: signal.candle_time, kind: `signal-${signal.direction}`, text: _("signal")}],
    });
  } catch (error) {
    if (request !== chartRequest) return;
    Charts.empty(container, format(_("Candles unavailable: %(reason)s"),
                                   {reason: error.body?.detail || errorText(error)}));
  }
}

// ---- analyses, followed by correlation id ----

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
  else if (seen.found.size) {
    setAnalysisState(id, "running", format(_("running: %(count)s signal(s)…"), {count: seen.found.size}));
  }
}

function addAnalysis(id, asset, timeframe, {atEnd = false} = {}) {
  if (analyses.has(id)) return analyses.get(id);
  const li = element("li", {className: "analysis", dataset: {correlationId: id}},
                     element("strong", {}, `${asset} ${timeframe}`), " ",
                     element("span", {className: "state"}), " ",
                     element("code", {title: id}, id.slice(0, 8)));
  const list = $("#analyses");
  if (atEnd) list.append(li);
  else list.prepend(li);
  while (list.children.length > RECENT_ANALYSES) {
    analyses.delete(list.lastElementChild.dataset.correlationId);
    list.lastElementChild.remove();
  }
  const analysis = {li, state: null, timer: null};
  analyses.set(id, analysis);
  return analysis;
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
    setAnalysisState(id, "completed", n === 1
      ? _("completed: 1 new signal")
      : format(_("completed: %(count)s new signals"), {count: n}));
  } else {
    setAnalysisState(id, "failed", format(_("failed: %(reason)s"),
                                          {reason: data.reason || data.error || _("unknown reason")}));
  }
}

function showAnalysisStatus(analysis) {
  const id = analysis.correlation_id;
  if (analysis.status === "completed" || analysis.status === "failed") {
    finishAnalysis(id, analysis.status, analysis);
  } else {
    setAnalysisState(id, analysis.status, analysis.status === "running" ? _("running…") : _("queued…"));
  }
}

// The recent analyses as the API has them; the pending ones are followed like new ones.
async function loadAnalyses() {
  const page = await api(query(config.urls.analyses, {ordering: "-created_at"}));
  for (const analysis of page.results.slice(0, RECENT_ANALYSES)) {
    const known = analyses.has(analysis.correlation_id);
    addAnalysis(analysis.correlation_id, analysis.asset, analysis.timeframe, {atEnd: !known});
    showAnalysisStatus(analysis);
    if (!["completed", "failed"].includes(analysis.status)) {
      followAnalysis(analysis.correlation_id, `${config.urls.analyses}${analysis.correlation_id}/`);
    }
    showAnalysisEvents(analysis.correlation_id);
  }
}

function followAnalysis(id, statusUrl) {
  const analysis = analyses.get(id);
  clearTimeout(analysis.timer);
  analysis.timer = setTimeout(() => pollAnalysis(id, statusUrl), POLL_AFTER_MS);
}

// The fallback when the live feed says nothing: the analysis' own status URL.
async function pollAnalysis(id, statusUrl) {
  const analysis = analyses.get(id);
  if (!analysis || analysis.state === "completed" || analysis.state === "failed") return;
  try {
    const body = await api(statusUrl);
    showAnalysisStatus(body);
    if (body.status === "completed" || body.status === "failed") {
      if (body.signals_generated) loadActive();
      return;
    }
  } catch (error) {
    setAnalysisState(id, "pending", format(_("waiting (status: %(reason)s)"), {reason: error.message}));
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
    const body = await sendJson(config.urls.request_analysis, "POST", {asset, timeframe});
    const id = body.correlation_id;
    addAnalysis(id, asset, timeframe);
    setAnalysisState(id, "pending", _("queued…"));
    followAnalysis(id, body.status_url);
    showAnalysisEvents(id);
  } catch (failure) {
    error.textContent = errorText(failure);
  } finally {
    form.querySelector("button").disabled = false;
  }
}

// ---- the last 30 days ----

let performanceTimer = null;

async function loadPerformance() {
  const summary = await api(config.urls.performance);
  const keys = SUMMARY_FIGURES.filter((key) => key in summary);
  renderFigures($("#performance"), summary, keys.length ? keys : figureKeys(summary).slice(0, 4));
  const curve = equityCurve(summary);
  Charts.equity($("#equity-chart"), curve.points, {drawdown: curve.drawdown});
}

function refreshPerformanceSoon() {
  clearTimeout(performanceTimer);
  performanceTimer = setTimeout(() => loadPerformance().catch(console.error), 1_000);
}

// ---- live events ----

onLiveEvent((event) => {
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
      if (event.correlation_id && !analyses.has(event.correlation_id) && data.asset) {
        addAnalysis(event.correlation_id, data.asset, data.timeframe);
      }
      noteAnalysisEvent(event);
      break;
    case "HealthCheck":
      $("#heartbeat").textContent = format(_("heartbeat %(time)s"), {time: show.time(event.timestamp)});
      break;
    case "caught_up":
      if (data.truncated) loadActive().catch(console.error);
      break;
  }
});

$("#analysis-form").addEventListener("submit", requestAnalysis);
$("#signals tbody").addEventListener("click", onChartChosen);

loadActive().catch(console.error);
loadAnalyses().catch(console.error);
loadPerformance().catch(console.error);
