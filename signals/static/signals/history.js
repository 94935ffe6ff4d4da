// The signal history: filters, sorting and pages of /api/signals/, kept live over the feed.
// The filters are drawn from config.filters (the API's own filter set), so a filter the API
// gains appears here by itself. The state lives in the address, so a reload keeps it.
"use strict";

const COLUMNS = [
  // [heading, ordering field or null, cell]
  [_("Created"), "created_at", (s) => show.time(s.created_at)],
  [_("Asset"), "asset", (s) => element("a", {href: signalUrl(s.id)}, s.asset)],
  [_("Direction"), null, (s) => show.label(s.direction), (s) => `dir ${s.direction}`],
  [_("Strategy"), "strategy", (s) => show.strategy(s.strategy)],
  [_("Timeframe"), null, (s) => s.timeframe],
  [_("Entry"), null, (s) => show.price(s.entry_price), () => "num"],
  [_("Stop"), null, (s) => show.price(s.stop_loss), () => "num"],
  [_("Target"), null, (s) => show.price(s.take_profit), () => "num"],
  [_("Strength"), "confidence", (s) => show.strength(s.strength ?? s.confidence), () => "num"],
  // A calibrated model's probability, where one was active when the signal fired.
  [_("Probability"), "probability", (s) => show.ratio(s.probability), () => "num"],
  [_("Status"), null, (s) => show.label(s.status), () => "status"],
  [_("Result"), null, (s) => (s.result === "none" ? MISSING : show.label(s.result)),
   (s) => `result ${s.result}`],
  [_("Exit price"), null, (s) => show.price(s.close_price), () => "num"],
  [_("PnL"), "pnl", (s) => show.pnl(s.pnl),
   (s) => `num ${isNumber(s.pnl) ? (s.pnl >= 0 ? "long" : "short") : ""}`],
  [_("R"), null, (s) => show.r(s.r_multiple), () => "num"],
  [_("Lifetime"), null, (s) => show.duration(lifetimeSeconds(s)), () => "num"],
  [_("Ended"), "closed_at", (s) => show.time(s.closed_at)],
];
const DEFAULT_ORDERING = "-created_at";

const state = {filters: {}, ordering: DEFAULT_ORDERING, page: 1, count: 0, shown: new Map()};
let newRows = 0;
let loadRequest = 0;

// ---- the filter form ----

function buildFilters() {
  const form = $("#filters");
  const buttons = form.querySelector("button[type=submit]");
  for (const filter of config.filters) {
    let control;
    if (filter.kind === "choice") {
      control = element("select", {name: filter.name},
                        element("option", {value: ""}, _("any")),
                        ...filter.choices.map((value) => element("option", {value},
                          filter.name === "strategy" ? show.strategy(value) : show.label(value))));
    } else if (filter.kind === "date") {
      control = element("input", {name: filter.name, type: "date"});
    } else {
      control = element("input", {name: filter.name, type: "text", autocomplete: "off",
                                  spellcheck: "false", maxlength: "20"});
    }
    form.insertBefore(element("label", {}, filter.label, control), buttons);
  }
  form.addEventListener("change", () => applyFilters());
  form.addEventListener("submit", (event) => { event.preventDefault(); applyFilters(); });
  form.addEventListener("reset", () => setTimeout(applyFilters));
}

function readForm() {
  const values = {};
  for (const filter of config.filters) {
    const value = $("#filters").elements[filter.name].value.trim();
    if (value) values[filter.name] = filter.kind === "text" ? value.toUpperCase() : value;
  }
  return values;
}

function fillForm() {
  for (const filter of config.filters) {
    $("#filters").elements[filter.name].value = state.filters[filter.name] || "";
  }
}

// The API's values: a picked day becomes the start (or the end) of that day, local time.
function apiFilters(values = state.filters) {
  const params = {};
  for (const filter of config.filters) {
    const value = values[filter.name];
    if (!value) continue;
    if (filter.kind === "date") {
      const [year, month, day] = value.split("-").map(Number);
      const moment = filter.lookup === "lte"
        ? new Date(year, month - 1, day, 23, 59, 59, 999) : new Date(year, month - 1, day);
      params[filter.name] = moment.toISOString();
    } else {
      params[filter.name] = value;
    }
  }
  return params;
}

function applyFilters() {
  state.filters = readForm();
  state.page = 1;
  // Alerts follow the filters in use when they were switched on and whenever they change.
  if (Alerts.settings().notify || Alerts.settings().sound) Alerts.save({filters: apiFilters()});
  saveAddress();
  load();
}

// ---- the address holds the state ----

function readAddress() {
  const params = new URLSearchParams(location.search);
  for (const filter of config.filters) {
    if (params.get(filter.name)) state.filters[filter.name] = params.get(filter.name);
  }
  const ordering = params.get("ordering");
  if (ordering && config.ordering_fields.includes(ordering.replace(/^-/, ""))) {
    state.ordering = ordering;
  }
  state.page = Math.max(1, parseInt(params.get("page"), 10) || 1);
}

function saveAddress() {
  const params = {...state.filters};
  if (state.ordering !== DEFAULT_ORDERING) params.ordering = state.ordering;
  if (state.page > 1) params.page = state.page;
  history.replaceState(null, "", query(location.pathname, params));
}

// ---- the table ----

function buildHeader() {
  const row = $("#history thead tr");
  for (const [heading, field, , classOf] of COLUMNS) {
    const th = element("th", {scope: "col"});
    if (classOf?.({})?.startsWith("num")) th.className = "num";
    if (field && config.ordering_fields.includes(field)) {
      th.dataset.field = field;
      const button = element("button", {type: "button", className: "sort"}, heading);
      button.addEventListener("click", () => sortBy(field));
      th.append(button);
    } else {
      th.textContent = heading;
    }
    row.append(th);
  }
}

function showOrdering() {
  for (const th of $$("#history thead th[data-field]")) {
    const field = th.dataset.field;
    if (state.ordering === field) th.setAttribute("aria-sort", "ascending");
    else if (state.ordering === `-${field}`) th.setAttribute("aria-sort", "descending");
    else th.removeAttribute("aria-sort");
  }
}

function sortBy(field) {
  // Newest, largest first on the first click; the other way on the next.
  state.ordering = state.ordering === `-${field}` ? field : `-${field}`;
  state.page = 1;
  saveAddress();
  load();
}

function fillRow(tr, signal) {
  tr.replaceChildren();
  tr.dataset.id = signal.id;
  tr.dataset.asset = signal.asset;
  tr.dataset.status = signal.status;
  for (const [heading, , content, classOf] of COLUMNS) {
    cell(tr, heading, content(signal), classOf ? classOf(signal) : "");
  }
}

function render(signals) {
  const tbody = $("#history tbody");
  tbody.replaceChildren();
  state.shown.clear();
  for (const signal of signals) {
    fillRow(tbody.insertRow(), signal);
    state.shown.set(signal.id, signal);
  }
  $("#history-empty").hidden = signals.length > 0;
  showCount();
}

function showCount() {
  const pages = Math.max(1, Math.ceil(state.count / config.page_size));
  $("#row-count").textContent = format(_("%(count)s signals"), {count: Formats.integer.format(state.count)});
  $("#page-info").textContent = format(_("Page %(page)s of %(pages)s"),
                                       {page: state.page, pages: Formats.integer.format(pages)});
  $("#previous-page").disabled = state.page <= 1;
  $("#next-page").disabled = state.page >= pages;
}

async function load() {
  const request = ++loadRequest;
  fillForm();
  showOrdering();
  newRows = 0;
  $("#new-rows").hidden = true;
  const params = {...apiFilters(), ordering: state.ordering};
  if (state.page > 1) params.page = state.page;
  try {
    const body = await api(query(config.urls.signals, params));
    if (request !== loadRequest) return;  // the filters changed meanwhile
    state.count = body.count;
    render(body.results);
    document.body.dataset.loaded = String(request);
  } catch (error) {
    if (request !== loadRequest) return;
    $("#row-count").textContent = errorText(error);
  }
}

function goToPage(step) {
  state.page += step;
  saveAddress();
  load().then(() => $("#history").scrollIntoView({block: "start"}));
}

// ---- live ----

function onSignal(event) {
  if (event.event_type !== "SignalGenerated" && event.event_type !== "SignalClosed") return;
  const signal = event.data;
  const row = $(`#history tbody tr[data-id="${CSS.escape(signal.id)}"]`);
  if (row) {
    fillRow(row, signal);
    state.shown.set(signal.id, signal);
    return;
  }
  if (event.event_type !== "SignalGenerated" || !matchesFilters(signal, apiFilters())) return;
  if (state.page === 1 && state.ordering === DEFAULT_ORDERING) {
    const tr = $("#history tbody").insertRow(0);
    fillRow(tr, signal);
    tr.classList.add("flash");
    state.shown.set(signal.id, signal);
    state.count += 1;
    const rows = $("#history tbody").rows;
    while (rows.length > config.page_size) rows[rows.length - 1].remove();
    $("#history-empty").hidden = true;
    showCount();
  } else {
    newRows += 1;
    const button = $("#new-rows");
    button.textContent = format(_("%(count)s new: show them"), {count: newRows});
    button.hidden = false;
  }
}

// ---- alerts ----

function setUpAlerts() {
  const notify = $("#alert-notify");
  const sound = $("#alert-sound");
  const current = Alerts.settings();
  notify.checked = current.notify;
  sound.checked = current.sound;
  notify.addEventListener("change", async () => {
    const wanted = notify.checked;
    const saved = await Alerts.enableNotifications(wanted);
    Alerts.save({filters: apiFilters()});
    notify.checked = saved.notify;
    $("#alert-status").textContent =
      wanted && !saved.notify ? _("Notifications are blocked by the browser.") : "";
  });
  sound.addEventListener("change", () => {
    if (sound.checked) {
      Alerts.unlockSound();
      Alerts.beep();
    }
    Alerts.save({sound: sound.checked, filters: apiFilters()});
  });
}

// ---- start ----

readAddress();
buildFilters();
buildHeader();
setUpAlerts();
$("#previous-page").addEventListener("click", () => goToPage(-1));
$("#next-page").addEventListener("click", () => goToPage(1));
$("#new-rows").addEventListener("click", () => {
  state.page = 1;
  state.ordering = DEFAULT_ORDERING;
  saveAddress();
  load();
});
onLiveEvent(onSignal);
load();
