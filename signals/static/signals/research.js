// Research (/api/backtests/grids/ and /walk-forward/): a grid of parameter values on one or
// several assets and timeframes, run by the workers, shown as a ranking and a heatmap of any two
// parameters (all series, each cell the best of its rows, or one series); a walk-forward test of
// a grid shown window by window, in-sample beside out-of-sample. The API validates: its messages
// are shown beside the field they name.
"use strict";

const urls = config.research_urls;
const ACTIVE = new Set(["queued", "running"]);
const POLL_MS = 3_000;
const RANKING_FIGURES = ["trades", "expectancy_r", "win_rate", "profit_factor",
                         "compounded_return_percent", "max_drawdown_percent"];

const form = $("#research-form");
let rows = [];  // {kind: "grid" | "walk", ...the API's row}
let shown = null;  // {kind, id}
let pollTimer = null;

const describe = (row) => `${row.kind === "grid" ? _("Grid") : _("Walk-forward")} #${row.id} `
  + `${show.strategy(row.strategy)} · ${(row.assets || [row.asset]).join(", ")} `
  + `${(row.timeframes || [row.timeframe]).join(", ")}`;
const ALL_SERIES = "";
const apiUrl = (row) => `${row.kind === "grid" ? urls.grids : urls.walk_forward}${row.id}/`;

// "name=values" lines as the API's grid object; a line without "=" goes as typed.
function gridFromText(text) {
  const grid = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const [name, ...values] = line.split("=");
    grid[name.trim()] = values.join("=").trim();
  }
  return grid;
}

function wholeNumber(text) {
  const value = text.trim();
  if (!value) return undefined;
  return /^\d+$/.test(value) ? Number(value) : value;
}

function dayBound(value, endOfDay) {
  if (!value) return undefined;
  const moment = Date.parse(`${value}T${endOfDay ? "23:59:59" : "00:00:00"}Z`);
  if (Number.isNaN(moment)) return value;
  return new Date(endOfDay ? Math.min(moment, Date.now()) : moment).toISOString();
}

async function submit(event) {
  event.preventDefault();
  clearErrors(form);
  const fields = form.elements;
  const data = {
    strategy: fields.strategy.value, assets: fields.assets.value.trim().toUpperCase(),
    timeframes: Array.from(fields.timeframes.selectedOptions, (option) => option.value),
    mode: fields.mode.value,
    start: dayBound(fields.start.value, false), end: dayBound(fields.end.value, true),
    grid: gridFromText(fields.grid.value), metric: fields.metric.value,
    minimum_trades: wholeNumber(fields.minimum_trades.value),
  };
  const walk = fields.walk_forward.checked;
  if (walk) {
    Object.assign(data, {train_bars: wholeNumber(fields.train_bars.value),
                         test_bars: wholeNumber(fields.test_bars.value),
                         embargo_bars: wholeNumber(fields.embargo_bars.value),
                         anchored: fields.anchored.checked});
  }
  const button = $("button[type=submit]", form);
  button.disabled = true;
  try {
    const created = await sendJson(walk ? urls.walk_forward : urls.grids, "POST", data);
    $("#research-submitted").textContent = format(_("#%(id)s queued."), created);
    shown = {kind: walk ? "walk" : "grid", id: created.id};
    await loadList();
  } catch (error) {
    if (error.status === 400) showErrors(form, error.body);
    else $('[data-error-for="non_field_errors"]', form).textContent = errorText(error);
  } finally {
    button.disabled = false;
  }
}

async function loadList() {
  try {
    const [grids, walks] = await Promise.all([api(urls.grids), api(urls.walk_forward)]);
    rows = [...grids.results.map((r) => ({kind: "grid", ...r})),
            ...walks.results.map((r) => ({kind: "walk", ...r}))]
      .sort((a, b) => b.created_at.localeCompare(a.created_at));
    $("#research-error").textContent = "";
  } catch (error) {
    $("#research-error").textContent = errorText(error);
    return;
  }
  $("#research-list tbody").replaceChildren(...rows.map(listRow));
  if (shown) openDetail(shown);
  clearTimeout(pollTimer);
  if (rows.some((r) => ACTIVE.has(r.status))) pollTimer = setTimeout(loadList, POLL_MS);
}

function listRow(row) {
  const tr = element("tr", {dataset: {id: row.id, kind: row.kind, status: row.status}});
  const link = element("a", {href: "#"}, describe(row));
  link.addEventListener("click", (event) => {
    event.preventDefault();
    shown = {kind: row.kind, id: row.id};
    openDetail(shown, true);
  });
  cell(tr, _("Run"), element("div", {}, link, element("div", {className: "help"},
    `${show.date(row.start)} – ${show.date(row.end)}`)));
  const state = element("div", {className: `backtest-status ${row.status}`},
                        element("span", {className: "state"}, show.label(row.status)));
  if (ACTIVE.has(row.status)) {
    const progress = isNumber(row.progress) ? row.progress : 0;
    state.append(" ", element("progress", {max: "1", value: String(progress),
      "aria-label": format(_("Progress of %(name)s"), {name: describe(row)})}),
      " ", show.ratio(progress));
  }
  if (row.error) state.append(element("div", {className: "field-error"}, row.error));
  cell(tr, _("Status"), state);
  const actions = cell(tr, "", "");
  if (ACTIVE.has(row.status)) {
    const cancel = element("button", {type: "button", className: "secondary"}, _("Cancel"));
    cancel.addEventListener("click", async () => {
      try { await api(apiUrl(row), {method: "DELETE"}); } catch (error) {
        $("#research-error").textContent = errorText(error);
      }
      loadList();
    });
    actions.append(cancel);
  }
  return tr;
}

async function openDetail(target, focus = false) {
  const row = {kind: target.kind, id: target.id};
  let detail;
  try {
    detail = await api(apiUrl(row));
  } catch (error) {
    $("#research-error").textContent = errorText(error);
    return;
  }
  $("#grid-detail").hidden = row.kind !== "grid";
  $("#walk-detail").hidden = row.kind !== "walk";
  if (row.kind === "grid") renderGrid({kind: "grid", ...detail});
  else renderWalk({kind: "walk", ...detail});
  if (focus) $(row.kind === "grid" ? "#grid-detail" : "#walk-detail").focus();
}

function renderGrid(grid) {
  $("#grid-title").textContent = describe(grid);
  const series = grid.series || [];
  $("#grid-facts").textContent = format(
    _("%(sets)s sets x %(series)s series: %(backtests)s backtests (%(done)s done) in %(chunks)s chunks · ranked by %(metric)s with at least %(trades)s trades"),
    {sets: grid.set_count, series: series.length, backtests: grid.backtest_count,
     done: grid.sets_done, chunks: grid.chunk_count, metric: grid.metric,
     trades: grid.minimum_trades});
  $("#grid-error").textContent = grid.error || "";
  const varied = grid.varied || Object.keys(grid.grid || {});
  for (const [selector, fallback] of [["#heatmap-x", 0], ["#heatmap-y", 1]]) {
    const select = $(selector);
    const before = select.value;
    select.replaceChildren(...varied.map((name) => element("option", {value: name}, name)));
    select.value = varied.includes(before) ? before : varied[Math.min(fallback, varied.length - 1)];
  }
  // Several series: the heatmap shows all of them (each cell the best of its rows) or one.
  const seriesSelect = $("#heatmap-series");
  const chosen = seriesSelect.value;
  const seriesKeys = series.map((s) => `${s.asset} ${s.timeframe}`);
  seriesSelect.replaceChildren(
    element("option", {value: ALL_SERIES}, _("All (best of each cell)")),
    ...seriesKeys.map((key) => element("option", {value: key}, key)));
  seriesSelect.value = seriesKeys.includes(chosen) ? chosen : ALL_SERIES;
  $("#heatmap-series-label").hidden = series.length < 2;
  const [asset, timeframe] = seriesSelect.value ? seriesSelect.value.split(" ") : [];
  const heatmap = $("#heatmap");
  heatmap.hidden = grid.status !== "completed";
  if (!heatmap.hidden) {
    heatmap.src = query(`${apiUrl(grid)}heatmap/`, {x: $("#heatmap-x").value,
                                                    y: $("#heatmap-y").value, asset, timeframe});
  }
  const figures = [grid.metric, ...RANKING_FIGURES.filter((key) => key !== grid.metric)];
  $("#ranking thead").replaceChildren(element("tr", {}, element("th", {scope: "col"}, "#"),
    element("th", {scope: "col"}, _("Asset")), element("th", {scope: "col"}, _("Timeframe")),
    ...varied.map((name) => element("th", {scope: "col"}, name)),
    ...figures.map((key) => element("th", {scope: "col", className: "num"}, figureLabel(key)))));
  $("#ranking tbody").replaceChildren(...(grid.ranking || []).map((result, place) => {
    const tr = element("tr");
    cell(tr, "#", String(place + 1));
    cell(tr, _("Asset"), result.asset);
    cell(tr, _("Timeframe"), result.timeframe);
    for (const name of varied) cell(tr, name, String(result.parameters[name]));
    for (const key of figures) cell(tr, figureLabel(key), showFigure(key, result.statistics[key]), "num");
    return tr;
  }));
}

function renderWalk(walk) {
  $("#walk-title").textContent = describe(walk);
  $("#walk-facts").textContent = format(
    _("%(kind)s windows: train %(train)s bars, embargo %(embargo)s, test %(test)s · chosen by %(metric)s"),
    {kind: walk.anchored ? _("Anchored") : _("Rolling"), train: walk.train_bars,
     embargo: walk.embargo_bars, test: walk.test_bars, metric: walk.metric});
  $("#walk-error").textContent = walk.error || "";
  const summary = [[_("In-sample (chosen sets)"), walk.in_sample],
                   [_("Out-of-sample (stitched)"), walk.out_of_sample]];
  $("#walk-summary tbody").replaceChildren(...summary.filter(([, f]) => f).map(([label, f]) => {
    const tr = element("tr");
    cell(tr, "", label);
    cell(tr, _("Trades"), show.number(f.trades), "num");
    cell(tr, _("Metric"), showFigure(walk.metric, f[walk.metric]), "num");
    cell(tr, _("Win rate"), showFigure("win_rate", f.win_rate), "num");
    return tr;
  }));
  $("#walk-windows tbody").replaceChildren(...(walk.windows || []).map((w) => {
    const tr = element("tr");
    cell(tr, "#", String(w.number));
    cell(tr, _("Training"), `${show.date(w.train_from)} – ${show.date(w.train_to)}`);
    cell(tr, _("Test"), `${show.date(w.test_from)} – ${show.date(w.test_to)}`);
    cell(tr, _("Chosen parameters"), w.parameters
      ? Object.entries(w.parameters).map(([k, v]) => `${k}=${v}`).join(" ") : _("none chosen"));
    cell(tr, _("In-sample"), showFigure(walk.metric, w.in_sample?.[walk.metric]), "num");
    cell(tr, _("Out-of-sample"), showFigure(walk.metric, w.out_of_sample?.[walk.metric]), "num");
    return tr;
  }));
}

for (const selector of ["#heatmap-x", "#heatmap-y", "#heatmap-series"]) {
  $(selector).addEventListener("change", () => shown && openDetail(shown));
}
form.addEventListener("submit", submit);
loadList();
