// One signal: its levels and outcome from the API, and a candle chart with entry, stop and target
// lines, a marker where it fired and one where (and at which price) it ended. Kept live.
"use strict";

// Candles shown before the signal's own, for context; the API serves at most MAX_CANDLES.
const CONTEXT_BARS = 80;
const MAX_CANDLES = 1000;

const FACTS = [
  [_("Status"), (s) => show.label(s.status)],
  [_("Result"), (s) => (s.result === "none" ? MISSING : show.label(s.result))],
  [_("Entry"), (s) => show.price(s.entry_price)],
  [_("Stop"), (s) => show.price(s.stop_loss)],
  [_("Target"), (s) => show.price(s.take_profit)],
  [_("Exit price"), (s) => show.price(s.close_price)],
  [_("PnL"), (s) => show.pnl(s.pnl)],
  [_("R"), (s) => show.r(s.r_multiple)],
  [_("Signal candle"), (s) => show.time(s.candle_time)],
  [_("Created"), (s) => show.time(s.created_at)],
  [_("Ended"), (s) => show.time(s.closed_at)],
  [_("Lifetime"), (s) => show.duration(lifetimeSeconds(s))],
];

function renderFacts(signal) {
  $("#facts").replaceChildren(...FACTS.map(([label, value]) => element("div", {},
    element("dt", {}, label), element("dd", {}, value(signal)))));
}

async function drawChart(signal) {
  const container = $("#signal-chart");
  const barSeconds = config.timeframe_seconds[signal.timeframe] || 60;
  const since = (Date.now() - Date.parse(signal.candle_time)) / 1000 / barSeconds;
  const limit = Math.min(MAX_CANDLES, Math.max(120, Math.ceil(since) + CONTEXT_BARS));
  let candles;
  try {
    candles = await api(query(config.urls.candles,
      {asset: signal.asset, timeframe: signal.timeframe, limit}));
  } catch (error) {
    Charts.empty(container, format(_("Candles unavailable: %(reason)s"),
                                   {reason: error.body?.detail || errorText(error)}));
    return;
  }
  const markers = [{time: signal.candle_time, kind: `signal-${signal.direction}`,
                    text: _("signal")}];
  if (signal.closed_at) {
    markers.push({time: signal.closed_at, price: signal.close_price, kind: "exit",
                  text: `${show.label(signal.status)} ${show.price(signal.close_price)}`});
  }
  Charts.candles(container, candles, {
    levels: [
      {label: _("Target"), price: signal.take_profit, kind: "target"},
      {label: _("Entry"), price: signal.entry_price, kind: "entry"},
      {label: _("Stop"), price: signal.stop_loss, kind: "stop"},
    ],
    markers,
    focus: signal.candle_time,
  });
  const missing = candles.length && Date.parse(candles[0].time) > Date.parse(signal.candle_time);
  $("#chart-note").hidden = !missing;
  $("#chart-note").textContent = missing
    ? _("The signal’s candle is older than the candles the chart can load; its levels are drawn.")
    : "";
}

async function load() {
  const signal = await api(config.signal_url);
  renderFacts(signal);
  await drawChart(signal);
}

for (const node of $$("[data-time]")) node.textContent = show.time(node.dataset.time);
onLiveEvent((event) => {
  if ((event.event_type === "SignalClosed" || event.event_type === "SignalGenerated")
      && event.data.id === config.signal_id) {
    renderFacts(event.data);
    drawChart(event.data);
  }
});
load().catch((error) => {
  $("#facts").textContent = errorText(error);
});
