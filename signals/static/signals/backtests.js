// Backtests (/api/backtests/): a form built from the strategy's parameter schema, the user's
// backtests with live progress (WebSocket events, polling when the feed is down), one backtest's
// metrics, curves, trades and candles, and two side by side. The API validates: its messages are
// shown beside the field they name.
"use strict";

const urls = config.backtest_urls;
const EVENTS = config.backtest_events;
const ACTIVE = new Set(["queued", "running"]);
// While a backtest runs, the list is reread this often: quickly without the live feed, rarely
// with it (in case an event was missed).
const POLL_OFFLINE_MS = 3_000;
const POLL_LIVE_MS = 15_000;
const MAX_CANDLES = 1000;  // the most /api/candles/ serves

const form = $("#backtest-form");
let strategiesByName = {};
let backtests = [];
let selectedId = config.backtest_id;
let detail = null;
let tradesPage = 1;
const chosen = [];  // ids of the two backtests to compare, oldest choice first
let pollTimer = null;

const detailUrl = (id) => `${urls.api}${id}/`;
const pageUrl = (id) => urls.detail_page.replace(/\/0\/$/, `/${id}/`);
const describe = (b) => `#${b.id} ${show.strategy(b.strategy)} · ${b.asset} ${b.timeframe}`;

// Metrics as one flat dict of figures, whether the API nests them (e.g. by portfolio) or not.
function flatMetrics(metrics) {
  const flat = {};
  for (const [key, value] of Object.entries(metrics || {})) {
    if (value && typeof value === "object" && !Array.isArray(value)) Object.assign(flat, value);
    else flat[key] = value;
  }
  return flat;
}

// ---- the form ----

function renderParameters() {
  const strategy = strategiesByName[form.elements.strategy.value];
  const inputs = Object.entries(strategy?.parameters || {})
    .map(([name, spec]) => parameterInput(name, spec));
  $("#backtest-parameters").replaceChildren(element("legend", {}, _("Parameters")), ...inputs);
}

// A UTC day from a date input as an ISO moment; the end of today is now.
function dayBound(value, endOfDay) {
  if (!value) return undefined;
  const moment = Date.parse(`${value}T${endOfDay ? "23:59:59" : "00:00:00"}Z`);
  if (Number.isNaN(moment)) return value;  // the API says what is wrong with it
  return new Date(endOfDay ? Math.min(moment, Date.now()) : moment).toISOString();
}

function formData() {
  const fields = form.elements;
  const parameters = {};
  const strategy = strategiesByName[fields.strategy.value];
  for (const [name, spec] of Object.entries(strategy?.parameters || {})) {
    const value = parameterValue(spec, fields[`parameter:${name}`]);
    if (value !== undefined) parameters[name] = value;
  }
  const data = {
    strategy: fields.strategy.value, asset: fields.asset.value.trim().toUpperCase(),
    timeframe: fields.timeframe.value, mode: fields.mode.value, parameters,
    start: dayBound(fields.start.value, false), end: dayBound(fields.end.value, true),
  };
  const fee = fields.fee_percent.value.trim().replace(",", ".");
  if (fee) data.fee_percent = Number.isFinite(Number(fee)) ? Number(fee) : fee;
  return data;
}

async function submitBacktest(event) {
  event.preventDefault();
  clearErrors(form);
  const status = $("#submitted");
  status.textContent = "";
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    const created = await sendJson(urls.api, "POST", formData());
    status.textContent = format(_("Backtest #%(id)s queued."), created);
    await loadList();
    openDetail(created.id, {push: true});
  } catch (error) {
    if (error.status === 400) showErrors(form, error.body);
    else $('[data-error-for="non_field_errors"]', form).textContent = error.body?.detail || errorText(error);
  } finally {
    button.disabled = false;
  }
}

// ---- the list, kept live ----

async function loadList() {
  const before = backtests.find((b) => b.id === selectedId);
  try {
    backtests = (await api(urls.api)).results;
    $("#list-error").textContent = "";
  } catch (error) {
    $("#list-error").textContent = errorText(error);
    return;
  }
  renderList();
  const after = backtests.find((b) => b.id === selectedId);
  // The one shown ended while we were polling: show its results.
  if (before && after && ACTIVE.has(before.status) && !ACTIVE.has(after.status)) openDetail(after.id);
  schedulePoll();
}

function schedulePoll() {
  clearTimeout(pollTimer);
  if (!backtests.some((b) => ACTIVE.has(b.status))) return;
  const live = document.body.dataset.connection === "live";
  pollTimer = setTimeout(loadList, live ? POLL_LIVE_MS : POLL_OFFLINE_MS);
}

function renderList() {
  $("#backtests tbody").replaceChildren(...backtests.map(listRow));
  $("#backtests-empty").hidden = backtests.length > 0;
  // A chosen backtest that left the list can no longer be compared.
  for (const id of [...chosen]) if (!backtests.some((b) => b.id === id)) choose(id, false);
  $("#compare").disabled = chosen.length !== 2;
}

function statusNode(b) {
  const node = element("div", {className: `backtest-status ${b.status}`},
                       element("span", {className: "state"}, show.label(b.status)));
  if (ACTIVE.has(b.status)) {
    const progress = isNumber(b.progress) ? b.progress : 0;
    node.append(" ", element("progress", {max: "1", value: String(progress),
                                          "aria-label": format(_("Progress of %(name)s"), {name: describe(b)})}),
                " ", element("span", {className: "progress-text"}, show.ratio(progress)));
  }
  if (b.error) node.append(element("div", {className: "field-error"}, b.error));
  return node;
}

function listRow(b) {
  const row = element("tr", {dataset: {id: b.id, status: b.status}});
  if (b.id === selectedId) row.classList.add("selected");
  const link = element("a", {href: pageUrl(b.id)}, describe(b));
  link.addEventListener("click", (event) => {
    event.preventDefault();
    openDetail(b.id, {push: true, focus: true});
  });
  cell(row, _("Backtest"), element("div", {}, link, element("div", {className: "help"},
    `${show.date(b.start)} – ${show.date(b.end)} · ${show.label(b.mode)}`)));
  cell(row, _("Status"), statusNode(b), "status-cell");
  const total = flatMetrics(b.metrics).compounded_return_percent;
  cell(row, _("Return"), showFigure("compounded_return_percent", total), "num");
  const box = element("input", {type: "checkbox",
    "aria-label": format(_("Compare %(name)s"), {name: describe(b)})});
  box.checked = chosen.includes(b.id);
  box.disabled = b.status !== "completed" && !box.checked;
  box.addEventListener("change", () => choose(b.id, box.checked));
  cell(row, _("Compare"), box);
  const actions = cell(row, "", "");
  if (ACTIVE.has(b.status)) {
    const cancel = element("button", {type: "button", className: "danger",
      "aria-label": format(_("Cancel %(name)s"), {name: describe(b)})}, _("Cancel"));
    cancel.addEventListener("click", () => cancelBacktest(b));
    actions.append(cancel);
  }
  return row;
}

// Apply a live change to one backtest: in place for progress (focus stays where it is), the whole
// row when it ends.
function updateBacktest(id, changes) {
  const b = backtests.find((item) => item.id === id);
  if (!b) return loadList();  // one this list has not read yet
  if (!ACTIVE.has(b.status)) return;  // a late or replayed event changes nothing that ended
  if (changes.progress < b.progress) return;
  Object.assign(b, changes);
  const row = $(`#backtests tr[data-id="${id}"]`);
  if (ACTIVE.has(b.status)) {
    row?.querySelector(".status-cell")?.replaceChildren(statusNode(b));
    if (row) row.dataset.status = b.status;
  } else {
    row?.replaceWith(listRow(b));
    loadList();  // the stored row has what the event does not carry (trade count, timings)
  }
  if (id === selectedId) {
    $("#detail-status").replaceChildren(statusNode(b));
    if (!ACTIVE.has(b.status)) openDetail(id);
  }
}

async function cancelBacktest(b) {
  $("#list-error").textContent = "";
  try {
    await api(detailUrl(b.id), {method: "DELETE"});
  } catch (error) {
    $("#list-error").textContent = error.body?.detail || errorText(error);
  }
  await loadList();
}

onLiveEvent((event) => {
  const data = event.data || {};
  if (event.event_type === EVENTS.progress) {
    updateBacktest(data.id, {status: "running", progress: data.progress});
  } else if (event.event_type === EVENTS.completed) {
    updateBacktest(data.id, {status: "completed", progress: 1, metrics: data.metrics});
  } else if (event.event_type === EVENTS.failed) {
    updateBacktest(data.id, {status: data.status || "failed", error: data.error});
  }
});

// ---- one backtest ----

async function openDetail(id, {push = false, focus = false} = {}) {
  selectedId = id;
  if (push && location.pathname !== pageUrl(id)) history.pushState({id}, "", pageUrl(id));
  for (const row of $$("#backtests tbody tr")) row.classList.toggle("selected", Number(row.dataset.id) === id);
  const section = $("#detail");
  section.hidden = false;
  if (focus) section.focus();
  $("#detail-error").textContent = "";
  let b;
  try {
    b = await api(detailUrl(id));
  } catch (error) {
    if (id !== selectedId) return;
    $("#detail-title").textContent = `#${id}`;
    $("#detail-error").textContent = error.status === 404 ? _("No such backtest.") : errorText(error);
    return;
  }
  if (id !== selectedId) return;  // another was opened meanwhile
  detail = b;
  $("#detail-title").textContent = describe(b);
  $("#detail-status").replaceChildren(statusNode(b));
  $("#detail-facts").textContent = [
    `${show.time(b.start)} – ${show.time(b.end)}`, show.label(b.mode),
    format(_("fee %(fee)s"), {fee: show.percent(b.fee_percent)}), show.label(b.source),
    format(_("%(count)s candles"), {count: show.integer(b.candles)}),
    format(_("%(count)s gaps"), {count: show.integer(Array.isArray(b.gaps) ? b.gaps.length : b.gaps)}),
    JSON.stringify(b.parameters || {}),
  ].join(" · ");
  renderFigures($("#figures"), flatMetrics(b.metrics));
  if (b.status === "completed") {
    const curve = b.equity_curve || [];
    Charts.equity($("#equity-chart"),
      curve.map((p) => ({time: p.time, value: (p.equity - 1) * 100})),
      {drawdown: curve.map((p) => ({time: p.time, value: p.drawdown_percent}))});
    tradesPage = 1;
    await loadTrades();
  } else {
    const waiting = ACTIVE.has(b.status) ? _("The results appear when the backtest completes.")
      : _("This backtest has no results.");
    Charts.empty($("#equity-chart"), waiting);
    Charts.empty($("#candle-chart"), waiting);
    renderTrades({results: [], count: 0});
  }
}

const TRADE_COLUMNS = [
  [_("Signal"), (t) => show.time(t.signal_time)],
  [_("Direction"), (t) => element("span", {className: `dir ${t.direction}`}, show.label(t.direction))],
  [_("Entry"), (t) => show.price(t.entry), "num"],
  [_("Stop"), (t) => show.price(t.stop_loss), "num"],
  [_("Target"), (t) => show.price(t.take_profit), "num"],
  [_("Exit"), (t) => show.time(t.exit_time)],
  [_("Exit price"), (t) => show.price(t.exit_price), "num"],
  [_("Result"), (t) => element("span", {className: `result ${t.result}`}, show.label(t.result))],
  [_("PnL"), (t) => show.pnl(t.pnl_percent), "num"],
  ["R", (t) => show.r(t.r), "num"],
  [_("Bars held"), (t) => show.integer(t.bars_held), "num"],
  [_("Exit reason"), (t) => (t.exit_reason ? show.label(t.exit_reason).replaceAll("_", " ") : MISSING)],
];

async function loadTrades() {
  const b = detail;
  try {
    const body = await api(query(b.trades_url || `${detailUrl(b.id)}trades/`, {page: tradesPage}));
    if (b !== detail) return;
    renderTrades(body);
    await drawCandles(b, body.results);
  } catch (error) {
    $("#detail-error").textContent = errorText(error);
  }
}

function renderTrades(body) {
  const tbody = $("#trades tbody");
  tbody.replaceChildren();
  for (const trade of body.results) {
    const row = tbody.insertRow();
    for (const [label, value, className] of TRADE_COLUMNS) cell(row, label, value(trade), className);
  }
  if (!body.results.length) cell(tbody.insertRow(), "", _("No trades."), "muted").colSpan = TRADE_COLUMNS.length;
  const pages = Math.max(1, Math.ceil(body.count / config.page_size));
  $("#trades-page").textContent = format(_("Page %(page)s of %(pages)s"), {page: tradesPage, pages});
  $("#previous-trades").disabled = !body.previous;
  $("#next-trades").disabled = !body.next;
}

// The latest candles the API serves, when they reach into the backtest's period, with the
// entries and exits of the trades on the table's page.
async function drawCandles(b, trades) {
  const container = $("#candle-chart");
  const note = $("#candle-note");
  note.hidden = true;
  let candles;
  try {
    candles = await api(query(config.urls.candles,
      {asset: b.asset, timeframe: b.timeframe, limit: MAX_CANDLES}));
  } catch (error) {
    Charts.empty(container, format(_("Candles unavailable: %(reason)s"),
                                   {reason: error.body?.detail || errorText(error)}));
    return;
  }
  const start = Date.parse(b.first_candle || b.start);
  const end = Date.parse(b.last_candle || b.end);
  const shown = candles.filter((c) => Date.parse(c.time) >= start && Date.parse(c.time) <= end);
  if (!shown.length) {
    Charts.empty(container, format(
      _("The candles the chart can load (the latest %(count)s) do not cover this backtest’s period."),
      {count: show.integer(MAX_CANDLES)}));
    return;
  }
  const first = Date.parse(shown[0].time);
  const covered = (iso) => iso && Date.parse(iso) >= first && Date.parse(iso) <= end;
  const markers = [];
  for (const t of trades) {
    if (covered(t.signal_time)) {
      markers.push({time: t.signal_time, kind: `signal-${t.direction}`, text: show.label(t.direction)});
    }
    if (covered(t.exit_time)) {
      markers.push({time: t.exit_time, price: t.exit_price, kind: "exit",
                    text: `${show.label(t.result)} ${show.price(t.exit_price)}`});
    }
  }
  Charts.candles(container, shown, {markers, focus: trades.find((t) => covered(t.signal_time))?.signal_time});
  if (first > start) {
    note.hidden = false;
    note.textContent = _("The chart’s candles begin after the backtest’s start: earlier trades are not marked.");
  }
}

// ---- two side by side ----

function choose(id, on) {
  const index = chosen.indexOf(id);
  if (index >= 0) chosen.splice(index, 1);
  if (on) chosen.push(id);
  if (chosen.length > 2) {
    const dropped = chosen.shift();
    const box = $(`#backtests tr[data-id="${dropped}"] input[type=checkbox]`);
    if (box) box.checked = false;
  }
  $("#compare").disabled = chosen.length !== 2;
}

async function compare() {
  const section = $("#comparison");
  let pair;
  try {
    pair = await Promise.all(chosen.map((id) => api(detailUrl(id))));
  } catch (error) {
    $("#list-error").textContent = errorText(error);
    return;
  }
  const figures = pair.map((b) => flatMetrics(b.metrics));
  const order = Object.keys(FIGURE_LABELS);
  const keys = [...new Set(figures.flatMap((f) => figureKeys(f)))]
    .sort((a, b) => ((order.indexOf(a) + 1) || 999) - ((order.indexOf(b) + 1) || 999));
  const table = $("#comparison-table");
  table.tHead.replaceChildren(element("tr", {},
    element("th", {scope: "col"}, _("Figure")),
    ...pair.map((b) => element("th", {scope: "col", className: "num"}, describe(b)))));
  const rows = [
    [_("Period"), pair.map((b) => `${show.date(b.start)} – ${show.date(b.end)}`)],
    [_("Mode"), pair.map((b) => show.label(b.mode))],
    [_("Parameters"), pair.map((b) => JSON.stringify(b.parameters || {}))],
    ...keys.map((key) => [figureLabel(key), figures.map((f) => showFigure(key, f[key]))]),
  ];
  table.tBodies[0].replaceChildren(...rows.map(([label, values]) => element("tr", {},
    element("th", {scope: "row"}, label),
    ...values.map((value) => element("td", {className: "num"}, value)))));
  section.hidden = false;
  pair.forEach((b, index) => {
    const side = index === 0 ? "a" : "b";
    $(`#compare-${side}-title`).textContent = describe(b);
    const curve = b.equity_curve || [];
    Charts.equity($(`#compare-${side}-chart`),
      curve.map((p) => ({time: p.time, value: (p.equity - 1) * 100})),
      {drawdown: curve.map((p) => ({time: p.time, value: p.drawdown_percent}))});
  });
  section.focus();
}

// ---- wiring ----

form.addEventListener("submit", submitBacktest);
form.elements.strategy.addEventListener("change", renderParameters);
$("#compare").addEventListener("click", compare);
$("#previous-trades").addEventListener("click", () => { tradesPage -= 1; loadTrades(); });
$("#next-trades").addEventListener("click", () => { tradesPage += 1; loadTrades(); });
window.addEventListener("popstate", () => {
  const match = location.pathname.match(/\/(\d+)\/$/);
  if (match) openDetail(Number(match[1]));
  else $("#detail").hidden = true;
});

async function init() {
  try {
    const registered = await api(config.urls.strategies);
    strategiesByName = Object.fromEntries(registered.map((s) => [s.name, s]));
    renderParameters();
  } catch (error) {
    $('[data-error-for="non_field_errors"]', form).textContent = errorText(error);
  }
  await loadList();
  if (selectedId) await openDetail(selectedId);
}
init();
