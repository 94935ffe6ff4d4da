// Shared by every page: the page's config, API calls, formatting in the page's language, the live
// feed (/ws/signals/) and opt-in alerts for new signals. Pages add their own script after this.
"use strict";

const config = JSON.parse(document.getElementById("page-config").textContent);
const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];
// Django's JavaScriptCatalog defines gettext/interpolate; keep pages working if it did not load.
const _ = typeof window.gettext === "function" ? window.gettext : (text) => text;
const format = typeof window.interpolate === "function"
  ? (text, values) => window.interpolate(text, values, true)
  : (text, values) => text.replace(/%\((\w+)\)s/g, (match, key) => values[key]);
const LANGUAGE = document.documentElement.lang || undefined;
const MISSING = "–";  // a value that does not exist is never shown as 0

// ---- formatting in the page's language ----

const Formats = {
  price: new Intl.NumberFormat(LANGUAGE, {maximumSignificantDigits: 6}),
  number: new Intl.NumberFormat(LANGUAGE, {maximumFractionDigits: 2}),
  integer: new Intl.NumberFormat(LANGUAGE, {maximumFractionDigits: 0}),
  signed: new Intl.NumberFormat(LANGUAGE, {maximumFractionDigits: 2, signDisplay: "exceptZero"}),
  // pnl and drawdowns are percent points: 2.5 means 2.5 %.
  percentPoints: new Intl.NumberFormat(LANGUAGE, {
    style: "percent", maximumFractionDigits: 2, signDisplay: "exceptZero",
  }),
  percent: new Intl.NumberFormat(LANGUAGE, {style: "percent", maximumFractionDigits: 2}),
  ratio: new Intl.NumberFormat(LANGUAGE, {style: "percent", maximumFractionDigits: 1}),
  dateTime: new Intl.DateTimeFormat(LANGUAGE, {dateStyle: "short", timeStyle: "short"}),
  date: new Intl.DateTimeFormat(LANGUAGE, {dateStyle: "medium"}),
};

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

const show = {
  price: (v) => (isNumber(v) ? Formats.price.format(v) : MISSING),
  number: (v) => (isNumber(v) ? Formats.number.format(v) : MISSING),
  integer: (v) => (isNumber(v) ? Formats.integer.format(v) : MISSING),
  pnl: (v) => (isNumber(v) ? Formats.percentPoints.format(v / 100) : MISSING),
  // A size in percent points, without a sign (a drawdown).
  percent: (v) => (isNumber(v) ? Formats.percent.format(v / 100) : MISSING),
  ratio: (v) => (isNumber(v) ? Formats.ratio.format(v) : MISSING),
  r: (v) => (isNumber(v) ? `${Formats.signed.format(v)} R` : MISSING),
  time: (v) => (v ? Formats.dateTime.format(new Date(v)) : MISSING),
  date: (v) => (v ? Formats.date.format(new Date(v)) : MISSING),
  duration: (seconds) => (isNumber(seconds) ? duration(seconds) : MISSING),
  strength: (v) => (isNumber(v) ? Formats.number.format(v) : MISSING),
  label: (value) => (value ? config.labels[value] ?? value : MISSING),
  strategy: (name) => name.replaceAll("_", " "),
};

// The largest unit that fits, one decimal: "3.5 h", "2 d".
function duration(seconds) {
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const [unit, size] = units.find(([, size]) => Math.abs(seconds) >= size) || units[3];
  return new Intl.NumberFormat(LANGUAGE, {
    style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1,
  }).format(seconds / size);
}

// From the entry (the close of the signal's candle) to its end; null while it is open.
function lifetimeSeconds(signal) {
  if (!signal.closed_at) return null;
  const entry = Date.parse(signal.candle_time) + (config.timeframe_seconds[signal.timeframe] || 0) * 1000;
  return (Date.parse(signal.closed_at) - entry) / 1000;
}

// ---- the REST API ----

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
    headers: {"Accept": "application/json", "X-CSRFToken": config.csrf_token,
              "Accept-Language": LANGUAGE || "", ...options.headers},
  });
  const body = response.status === 204 ? null : await response.json().catch(() => null);
  // A GET refused means the session is gone (a refused POST may just be a CSRF problem).
  if ((response.status === 401 || response.status === 403) && !options.method) loggedOut();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function sendJson(url, method, data) {
  return api(url, {method, headers: {"Content-Type": "application/json"},
                   body: JSON.stringify(data)});
}

const MAX_PAGES = 20;

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
  const clean = Object.entries(params).filter(([, value]) => value !== "" && value != null);
  return clean.length ? `${url}?${new URLSearchParams(clean)}` : url;
}

// "field: message" lines from a DRF 400 body ({"field": ["message"]} or {"detail": "..."}).
function errorText(error) {
  const body = error.body;
  if (!body || typeof body !== "object") return error.message;
  return Object.entries(body)
    .map(([field, messages]) => `${field}: ${[].concat(messages).map(flatten).join(" ")}`)
    .join(" ");
}

function flatten(message) {
  if (message && typeof message === "object") {
    return Object.entries(message).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join(" ");
  }
  return String(message);
}

function signalUrl(id) {
  return config.urls.signal_page.replace("00000000-0000-0000-0000-000000000000", id);
}

// ---- small DOM helpers ----

function cell(row, label, content, className = "") {
  const td = row.insertCell();
  td.dataset.label = label;
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// The figures of a performance response as <div><dt><dd> pairs. Labels come from this map, so a
// renamed or new figure only needs an entry here; one without an entry is still shown.
const FIGURE_LABELS = {
  total_signals: [_("Signals"), "integer"],
  winning_signals: [_("Wins"), "integer"],
  losing_signals: [_("Losses"), "integer"],
  expired_signals: [_("Expired"), "integer"],
  open_signals: [_("Open"), "integer"],
  cancelled_signals: [_("Cancelled"), "integer"],
  win_rate: [_("Win rate"), "ratio"],
  ended_signals: [_("Ended"), "integer"],
  profit_factor: [_("Profit factor"), "number"],
  expectancy_r: [_("Expectancy (R)"), "r"],
  expectancy_r_excluding_expired: [_("Expectancy (R), expired excluded"), "r"],
  expectancy_percent: [_("Expectancy"), "pnl"],
  expectancy_percent_excluding_expired: [_("Expectancy, expired excluded"), "pnl"],
  median_r: [_("Median R"), "r"],
  stake_percent: [_("Stake per signal"), "percent"],
  compounded_return_percent: [_("Compounded return"), "pnl"],
  max_drawdown_percent: [_("Max drawdown"), "percent"],
  sharpe_annualised: [_("Sharpe (annualised)"), "number"],
  sortino_annualised: [_("Sortino (annualised)"), "number"],
  exposure_percent: [_("Exposure"), "percent"],
  max_consecutive_wins: [_("Most wins in a row"), "integer"],
  max_consecutive_losses: [_("Most losses in a row"), "integer"],
  average_holding_seconds: [_("Average time held"), "duration"],
  trades: [_("Trades"), "integer"],
  brier: [_("Brier score"), "number"],
  ece: [_("Calibration error (ECE)"), "number"],
};

// The performance response's daily capital curve as chart points: gain in percent since the
// start, and the fall from the best day so far.
function equityCurve(summary) {
  const days = summary.equity_curve || [];
  const time = (point) => `${point.date}T00:00:00Z`;
  return {
    points: days.map((point) => ({time: time(point), value: (point.equity - 1) * 100})),
    drawdown: days.map((point) => ({time: time(point), value: point.drawdown_percent})),
  };
}

function figureLabel(key) {
  return FIGURE_LABELS[key]?.[0] ?? key.replaceAll("_", " ");
}

function showFigure(key, value) {
  const kind = FIGURE_LABELS[key]?.[1];
  if (kind) return show[kind](value);
  // Unknown figures: numbers as numbers; percents are named so by the API.
  if (value === null || value === undefined) return MISSING;
  if (isNumber(value)) return key.endsWith("_percent") ? show.pnl(value) : show.number(value);
  return String(value);
}

// Scalars (numbers or null) of a response: its figures, whatever they are called.
function figureKeys(summary) {
  return Object.keys(summary).filter((key) => {
    const value = summary[key];
    return value === null || typeof value === "number";
  });
}

function renderFigures(list, summary, keys = figureKeys(summary)) {
  list.replaceChildren(...keys.map((key) => {
    const value = summary[key];
    const dd = element("dd", {dataset: {figure: key}}, showFigure(key, value));
    if (isNumber(value) && /pnl|return|expectancy/.test(key)) {
      dd.classList.add(value >= 0 ? "long" : "short");
    }
    return element("div", {}, element("dt", {}, figureLabel(key)), dd);
  }));
}

// ---- forms built from a strategy's parameter schema; the API's errors beside their fields ----

function clearErrors(form) {
  for (const node of $$("[data-error-for]", form)) node.textContent = "";
  for (const node of $$("[aria-invalid]", form)) node.removeAttribute("aria-invalid");
}

// body: {"field": ["message"]} or {"parameters": {"name": ["message"]}}; a message without a
// field of its own goes to the form's general slot.
function showErrors(form, body) {
  let focused = false;
  const place = (field, messages) => {
    const slot = $(`[data-error-for="${CSS.escape(field)}"]`, form)
      || $('[data-error-for="non_field_errors"]', form);
    slot.textContent = [slot.textContent, [].concat(messages).map(flatten).join(" ")]
      .filter(Boolean).join(" ");
    const input = form.elements[field];
    if (input instanceof Element) {
      input.setAttribute("aria-invalid", "true");
      if (!focused) { input.focus(); focused = true; }
    }
  };
  for (const [field, messages] of Object.entries(body || {})) {
    if (field === "parameters" && messages && !Array.isArray(messages) && typeof messages === "object") {
      for (const [name, reasons] of Object.entries(messages)) place(`parameter:${name}`, reasons);
    } else {
      place(field, messages);
    }
  }
}

function parameterInput(name, spec, value) {
  const id = `parameter-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const errorId = `${id}-error`;
  let input;
  if (spec.type === "bool") {
    input = element("input", {type: "checkbox", name: `parameter:${name}`, id,
                              "aria-describedby": errorId});
    input.checked = value ?? spec.default;
  } else {
    input = element("input", {type: "text", name: `parameter:${name}`, id,
                              inputmode: spec.type === "int" ? "numeric" : "decimal",
                              placeholder: show.number(spec.default), autocomplete: "off",
                              "aria-describedby": errorId});
    input.value = value ?? "";
  }
  const bounds = [spec.minimum, spec.maximum].every((b) => b === null)
    ? "" : ` (${show.number(spec.minimum)} … ${show.number(spec.maximum)})`;
  return element("div", {className: "parameter"},
    element("label", {for: id}, element("code", {}, name), " ", input),
    element("p", {className: "help"}, `${spec.description}${bounds}`),
    element("p", {className: "field-error", id: errorId, dataset: {errorFor: `parameter:${name}`},
                  "aria-live": "polite"}));
}

// A typed value for the API; what does not parse goes as typed, and the API says why not.
function parameterValue(spec, input) {
  if (spec.type === "bool") return input.checked;
  const text = input.value.trim().replace(",", ".");
  if (text === "") return undefined;
  const number = Number(text);
  if (!Number.isFinite(number)) return input.value.trim();
  return number;
}

// ---- opt-in alerts (notification + sound) for new signals that match the user's filters ----

const Alerts = (() => {
  const storageKey = `botsinais.alerts.${config.username}`;
  let audio = null;

  function settings() {
    try {
      return {notify: false, sound: false, filters: {}, ...JSON.parse(localStorage[storageKey] || "{}")};
    } catch {
      return {notify: false, sound: false, filters: {}};
    }
  }

  function save(changes) {
    const next = {...settings(), ...changes};
    localStorage[storageKey] = JSON.stringify(next);
    return next;
  }

  // Must run in a click or keypress: browsers only start audio after a user gesture.
  function unlockSound() {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
  }

  function beep() {
    if (!audio) {
      try { audio = new AudioContext(); } catch { return; }
    }
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.3);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.3);
  }

  async function enableNotifications(on) {
    if (!on) return save({notify: false});
    if (!("Notification" in window)) return save({notify: false});
    const permission = await Notification.requestPermission();
    return save({notify: permission === "granted"});
  }

  // Filters as the history page holds them: {filter name: value}; see matchesFilters().
  function signalGenerated(signal) {
    const current = settings();
    if (!current.notify && !current.sound) return false;
    if (!matchesFilters(signal, current.filters)) return false;
    if (current.sound) beep();
    if (current.notify && "Notification" in window && Notification.permission === "granted") {
      const title = format(_("New signal: %(direction)s %(asset)s"),
                           {direction: show.label(signal.direction), asset: signal.asset});
      const note = new Notification(title, {
        body: `${show.strategy(signal.strategy)} · ${signal.timeframe} · ${_("entry")} ${show.price(signal.entry_price)}`,
        tag: signal.id,
      });
      note.onclick = () => { window.focus(); location.href = signalUrl(signal.id); };
    }
    return true;
  }

  return {settings, save, enableNotifications, unlockSound, beep, signalGenerated};
})();

// Does a signal pass the history filters? Each filter says which field it reads and how
// (config.filters, built from the API's own filter set).
function matchesFilters(signal, values) {
  for (const filter of config.filters || []) {
    const wanted = values[filter.name];
    if (wanted === undefined || wanted === "") continue;
    const actual = signal[filter.field];
    if (actual === undefined) continue;  // a field this signal does not carry cannot exclude it
    if (filter.kind === "date") {
      const moment = Date.parse(actual);
      const bound = Date.parse(wanted);
      if (filter.lookup === "gte" && moment < bound) return false;
      if (filter.lookup === "lte" && moment > bound) return false;
    } else if (String(actual).toLowerCase() !== String(wanted).toLowerCase()) {
      return false;
    }
  }
  return true;
}

// ---- the live feed ----

// After a reconnect, ask for events from a little before the last one seen: a transaction that
// committed late may carry an earlier timestamp. Handlers are idempotent, so repeats are harmless.
const CATCH_UP_MARGIN_MS = 60_000;
const RECONNECT_MIN_MS = 1_000;
const RECONNECT_MAX_MS = 30_000;

const live = {
  socket: null, attempts: 0, opened: false, stopped: false, lastTimestamp: config.server_time,
  handlers: [],
};
let reconnectTimer = null;

function onLiveEvent(handler) {
  live.handlers.push(handler);
}

function setConnection(state, message) {
  const badge = $("#connection");
  if (badge) {
    badge.className = `connection ${state}`;
    badge.textContent = message;
  }
  document.body.dataset.connection = state;
}

function loggedOut() {
  live.stopped = true;
  if (live.socket) live.socket.close();
  setConnection("offline", _("Logged out: reload to log in again"));
}

function connect() {
  if (live.stopped) return;
  clearTimeout(reconnectTimer);
  setConnection("connecting", live.attempts ? _("Reconnecting…") : _("Connecting…"));
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}${config.ws_path}`);
  live.socket = socket;
  live.opened = false;
  socket.onopen = () => {
    live.opened = true;
    live.attempts = 0;
    setConnection("live", _("Live"));
    const after = new Date(new Date(live.lastTimestamp).getTime() - CATCH_UP_MARGIN_MS);
    socket.send(JSON.stringify({action: "since", after: after.toISOString()}));
  };
  socket.onmessage = (message) => handleLiveEvent(JSON.parse(message.data));
  socket.onclose = () => {
    if (live.socket !== socket || live.stopped) return;
    // Refused before opening: maybe the session ended; the REST call finds out (403).
    if (!live.opened) api(config.urls.strategies).catch(() => {});
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** live.attempts)
      * (0.75 + Math.random() / 2);
    live.attempts += 1;
    setConnection("offline", format(_("Offline: retrying in %(seconds)s s"),
                                    {seconds: Math.round(delay / 1000)}));
    reconnectTimer = setTimeout(connect, delay);
  };
}

// Alerts only for signals first seen live, not for those replayed after a reconnect.
const alertedSignals = new Set();

function handleLiveEvent(event) {
  if (Date.parse(event.timestamp) > Date.parse(live.lastTimestamp)) {
    live.lastTimestamp = event.timestamp;
  }
  if (event.event_type === "SignalGenerated" && !alertedSignals.has(event.data.id)) {
    alertedSignals.add(event.data.id);
    if (Date.parse(event.data.created_at) >= Date.parse(config.server_time)) {
      Alerts.signalGenerated(event.data);
    }
  }
  if (event.event_type === "error") console.warn("live feed:", event.data?.error);
  for (const handler of live.handlers) handler(event);
}

window.addEventListener("online", () => {
  if (!live.socket || live.socket.readyState === WebSocket.CLOSED) connect();
});
// Pages register their handlers first; the feed starts once the page's scripts have run.
document.addEventListener("DOMContentLoaded", connect);
