// The record of a period: every figure /api/signals/performance/ returns (labelled through
// FIGURE_LABELS, so renamed or new figures need one line there), the equity curve and drawdown,
// and a table for each breakdown the response carries (by_strategy, by_asset, ...).
"use strict";

const DAY_MS = 86_400_000;
const ALL_TIME = "2000-01-01T00:00:00Z";
// Columns of the breakdown tables, the ones the response has; else its first few figures.
const BREAKDOWN_FIGURES = [
  "total_signals", "win_rate", "total_pnl", "compounded_return", "average_r", "expectancy_r",
  "profit_factor", "max_drawdown", "max_drawdown_percent",
];
// [table title, first column's heading]
const BREAKDOWN_TITLES = {
  by_strategy: [_("By strategy"), _("Strategy")],
  by_asset: [_("By asset"), _("Asset")],
  by_timeframe: [_("By timeframe"), _("Timeframe")],
  by_source: [_("By data source"), _("Data source")],
  by_direction: [_("By direction"), _("Direction")],
};

const form = $("#period");
let period = {days: 30};
let loadRequest = 0;

function periodParams() {
  if (period.days === "all") return {from: ALL_TIME};
  if (period.days) return {from: new Date(Date.now() - period.days * DAY_MS).toISOString()};
  const params = {};
  if (period.from) params.from = new Date(`${period.from}T00:00`).toISOString();
  if (period.to) params.to = new Date(`${period.to}T23:59:59.999`).toISOString();
  return params;
}

function filterParams() {
  const params = {};
  for (const name of ["strategy", "asset", "timeframe", "direction"]) {
    const value = form.elements[name].value.trim();
    if (value) params[name] = name === "asset" ? value.toUpperCase() : value;
  }
  return params;
}

async function load() {
  const request = ++loadRequest;
  $("#period-error").textContent = "";
  for (const button of $$("[data-days]", form)) {
    button.setAttribute("aria-pressed", String(button.dataset.days === String(period.days)));
  }
  try {
    const summary = await api(query(config.urls.performance, {...periodParams(), ...filterParams()}));
    if (request !== loadRequest) return;
    render(summary);
    document.body.dataset.loaded = String(request);
  } catch (error) {
    if (request !== loadRequest) return;
    $("#period-error").textContent = errorText(error);
  }
}

function render(summary) {
  if (summary.period) {
    $("#period-shown").textContent = format(_("Signals created from %(from)s to %(to)s"),
      {from: show.time(summary.period.from), to: show.time(summary.period.to)});
  }
  renderFigures($("#figures"), summary);
  renderExtremes(summary);
  const curve = equityCurve(summary);
  Charts.equity($("#equity-chart"), curve.points, {drawdown: curve.drawdown});
  renderBreakdowns(summary);
  renderCalibration(summary.calibration);
}

// The live reliability of the model probabilities: one row per probability bin with signals.
function renderCalibration(calibration) {
  if (!calibration) return;
  renderFigures($("#calibration-figures"), calibration, ["ended_signals", "brier", "ece"]);
  const body = $("#calibration-reliability tbody");
  body.replaceChildren();
  for (const bin of calibration.reliability.filter((row) => row.count)) {
    const row = body.insertRow();
    row.append(element("th", {scope: "row"},
                       `${show.ratio(bin.lower)}–${show.ratio(bin.upper)}`));
    cell(row, _("Signals"), show.integer(bin.count), "num");
    cell(row, _("Told (mean)"), show.ratio(bin.mean_probability), "num");
    cell(row, _("Reached the target"), show.ratio(bin.observed_rate), "num");
    cell(row, _("Brier score"), show.number(bin.brier), "num");
  }
  if (!body.rows.length) {
    cell(body.insertRow(), "", _("No ended signals with a probability in this period."),
         "muted").colSpan = 5;
  }
}


// Figures that are one signal (best_signal, worst_signal): asset, strategy and pnl.
const EXTREME_LABELS = {best_signal: _("Best signal"), worst_signal: _("Worst signal")};

function renderExtremes(summary) {
  const items = [];
  for (const [key, value] of Object.entries(summary)) {
    const isSignal = value && typeof value === "object" && "pnl" in value && "asset" in value;
    if (!isSignal && !(key in EXTREME_LABELS && value === null)) continue;
    const text = isSignal
      ? `${value.asset} ${value.timeframe ?? ""} · ${show.strategy(value.strategy ?? "")} · ${show.pnl(value.pnl)}`
      : MISSING;
    items.push(element("div", {}, element("dt", {}, EXTREME_LABELS[key] ?? figureLabel(key)),
                       element("dd", {}, text)));
  }
  $("#extremes").replaceChildren(...items);
}

function renderBreakdowns(summary) {
  const sections = [];
  for (const [key, groups] of Object.entries(summary)) {
    if (key === "calibration") continue;  // its own card
    if (key.startsWith("by_") && groups && typeof groups === "object") {
      const name = key.slice(3).replaceAll("_", " ");
      const [title, heading] = BREAKDOWN_TITLES[key] || [key.replaceAll("_", " "), name];
      sections.push(breakdownTable(title, heading, key, groups));
    } else if (Array.isArray(groups) && key !== "equity_curve" && key !== "drawdown_curve"
               && groups.length && typeof groups[0] === "object") {
      sections.push(listTable(key.replaceAll("_", " "), key, groups));  // e.g. a reliability table
    }
  }
  if (!sections.length) sections.push(element("p", {className: "muted"}, _("No breakdowns for this period.")));
  $("#breakdowns").replaceChildren(...sections);
}

function breakdownTable(title, heading, key, groups) {
  const names = Object.keys(groups);
  const first = groups[names[0]] || {};
  let columns = BREAKDOWN_FIGURES.filter((figure) => figure in first);
  if (!columns.length) columns = figureKeys(first).slice(0, 6);
  const table = element("table", {id: key.replaceAll("_", "-"), className: "compact"});
  table.createCaption().textContent = title;
  const head = table.createTHead().insertRow();
  head.append(element("th", {scope: "col"}, heading));
  for (const column of columns) head.append(element("th", {scope: "col", className: "num"}, figureLabel(column)));
  const body = table.createTBody();
  const order = names.sort((a, b) => (groups[b].total_signals ?? 0) - (groups[a].total_signals ?? 0)
                                      || a.localeCompare(b));
  for (const name of order) {
    const row = body.insertRow();
    row.append(element("th", {scope: "row"}, key === "by_strategy" ? show.strategy(name) : show.label(name)));
    for (const column of columns) cell(row, figureLabel(column), showFigure(column, groups[name][column]), "num");
  }
  if (!names.length) {
    const row = body.insertRow();
    cell(row, "", _("No signals in this period."), "muted").colSpan = columns.length + 1;
  }
  return element("div", {className: "table-scroll"}, table);
}

function listTable(title, key, rows) {
  const columns = Object.keys(rows[0]);
  const table = element("table", {id: key.replaceAll("_", "-"), className: "compact"});
  table.createCaption().textContent = title;
  const head = table.createTHead().insertRow();
  for (const column of columns) head.append(element("th", {scope: "col"}, figureLabel(column)));
  const body = table.createTBody();
  for (const item of rows) {
    const row = body.insertRow();
    for (const column of columns) cell(row, figureLabel(column), showFigure(column, item[column]));
  }
  return element("div", {className: "table-scroll"}, table);
}

// ---- the period picker and filters ----

form.addEventListener("click", (event) => {
  const button = event.target.closest("[data-days]");
  if (!button) return;
  period = {days: button.dataset.days === "all" ? "all" : Number(button.dataset.days)};
  form.elements.from.value = "";
  form.elements.to.value = "";
  load();
});
form.addEventListener("change", (event) => {
  if (event.target.name === "from" || event.target.name === "to") {
    period = {from: form.elements.from.value, to: form.elements.to.value};
  }
  load();
});
form.addEventListener("submit", (event) => { event.preventDefault(); load(); });

let refreshTimer = null;
onLiveEvent((event) => {
  if (event.event_type === "SignalClosed" || event.event_type === "SignalGenerated") {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(load, 1_000);
  }
});
load();
