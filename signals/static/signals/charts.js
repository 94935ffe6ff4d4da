// Charts drawn with TradingView's lightweight-charts (vendored in static/vendor): candles with
// price lines for a signal's levels and markers for its start and end; equity and drawdown.
// Each container holds one chart, replaced whole when its data changes.
"use strict";

const Charts = (() => {
  const LC = window.LightweightCharts;
  const COLORS = {
    up: "#0a7d35", down: "#b42318", accent: "#2459d6", ink: "#1d2330", grid: "#eef0f3",
    exit: "#6b3fa0",
  };
  const PERCENT_POINTS = {type: "custom", minMove: 0.01, formatter: (value) => show.pnl(value)};
  const toSeconds = (iso) => Math.floor(Date.parse(iso) / 1000);

  // Tick labels in the page's language: a year, a month, a day or a time of day.
  const tickFormats = [
    new Intl.DateTimeFormat(LANGUAGE, {year: "numeric"}),
    new Intl.DateTimeFormat(LANGUAGE, {month: "short"}),
    new Intl.DateTimeFormat(LANGUAGE, {day: "numeric", month: "short"}),
    new Intl.DateTimeFormat(LANGUAGE, {hour: "2-digit", minute: "2-digit"}),
    new Intl.DateTimeFormat(LANGUAGE, {hour: "2-digit", minute: "2-digit", second: "2-digit"}),
  ];

  function create(container, extra = {}) {
    container.chart?.remove();
    const chart = LC.createChart(container, {
      autoSize: true,
      layout: {background: {color: "#ffffff"}, textColor: COLORS.ink,
               fontFamily: "system-ui, sans-serif", attributionLogo: true},
      grid: {vertLines: {color: COLORS.grid}, horzLines: {color: COLORS.grid}},
      localization: {
        locale: LANGUAGE || navigator.language,
        timeFormatter: (time) => Formats.dateTime.format(new Date(time * 1000)),
        priceFormatter: (value) => Formats.price.format(value),
      },
      timeScale: {
        timeVisible: true, secondsVisible: false, borderVisible: false,
        tickMarkFormatter: (time, type) => tickFormats[type].format(new Date(time * 1000)),
      },
      rightPriceScale: {borderVisible: false},
      ...extra,
    });
    container.chart = chart;
    return chart;
  }

  // Ascending, one point per second: the library refuses repeated or unordered times.
  function ordered(points) {
    const byTime = new Map();
    for (const point of points) byTime.set(point.time, point);
    return [...byTime.values()].sort((a, b) => a.time - b.time);
  }

  function empty(container, message) {
    container.chart?.remove();
    container.chart = null;
    container.replaceChildren(element("p", {className: "chart-empty"}, message));
    container.dataset.drawn = "empty";
  }

  // The bar a moment falls in: the last one opening at or before it.
  function barAt(bars, seconds) {
    let found = null;
    for (const bar of bars) {
      if (bar.time <= seconds) found = bar;
      else break;
    }
    return found;
  }

  // candles: [{time (ISO), open, high, low, close}]; levels: [{label, price, kind}];
  // markers: [{time (ISO), price?, kind: "signal-long" | "signal-short" | "exit", text}].
  function candles(container, rows, {levels = [], markers = [], focus = null} = {}) {
    if (!rows.length) return empty(container, _("No candles"));
    container.replaceChildren();
    const chart = create(container);
    const series = chart.addSeries(LC.CandlestickSeries, {
      upColor: COLORS.up, downColor: COLORS.down, borderVisible: false,
      wickUpColor: COLORS.up, wickDownColor: COLORS.down, priceLineVisible: false,
    });
    const bars = ordered(rows.map((c) => ({
      time: toSeconds(c.time), open: c.open, high: c.high, low: c.low, close: c.close,
    })));
    series.setData(bars);
    for (const level of levels) {
      series.createPriceLine({
        price: level.price, title: level.label, lineWidth: 2, axisLabelVisible: true,
        color: {entry: COLORS.accent, stop: COLORS.down, target: COLORS.up}[level.kind]
          || COLORS.exit,
        lineStyle: level.kind === "entry" ? LC.LineStyle.Solid : LC.LineStyle.Dashed,
      });
    }
    const placed = [];
    for (const marker of markers) {
      const bar = barAt(bars, toSeconds(marker.time));
      if (!bar) continue;  // older than the candles shown
      placed.push(markerFor(marker, bar.time));
    }
    placed.sort((a, b) => a.time - b.time);
    LC.createSeriesMarkers(series, placed);
    showAround(chart, bars, focus);
    Object.assign(container.dataset, {
      drawn: "candles", candles: bars.length, levels: levels.length, markers: placed.length,
    });
    return chart;
  }

  function markerFor(marker, time) {
    if (marker.kind === "exit") {
      return {time, position: isNumber(marker.price) ? "atPriceMiddle" : "aboveBar",
              price: marker.price, shape: "circle", color: COLORS.exit, text: marker.text};
    }
    const long = marker.kind === "signal-long";
    return {time, position: long ? "belowBar" : "aboveBar", shape: long ? "arrowUp" : "arrowDown",
            color: long ? COLORS.up : COLORS.down, text: marker.text};
  }

  // Enough bars to read: around the focus moment when there is one, else the latest.
  function showAround(chart, bars, focus) {
    const visible = 120;
    if (bars.length <= visible) {
      chart.timeScale().fitContent();
      return;
    }
    let index = bars.length - 1;
    if (focus) {
      const bar = barAt(bars, toSeconds(focus));
      if (bar) index = Math.min(bars.length - 1, bars.indexOf(bar) + visible / 3);
    }
    chart.timeScale().setVisibleLogicalRange({from: index - visible, to: index + 5});
  }

  // points: [{time (ISO), value}] of cumulative pnl (percent points); drawdown below it, from the
  // same points unless the response carried its own ([{time, value}], zero or negative).
  function equity(container, points, {drawdown = null} = {}) {
    if (!points.length) return empty(container, _("No closed signals in this period"));
    container.replaceChildren();
    const chart = create(container);
    const curve = ordered(points.map((p) => ({time: toSeconds(p.time), value: p.value})));
    const last = curve[curve.length - 1].value;
    const equitySeries = chart.addSeries(LC.AreaSeries, {
      lineColor: last >= 0 ? COLORS.up : COLORS.down, lineWidth: 2,
      topColor: last >= 0 ? "#0a7d3540" : "#b4231840", bottomColor: "#ffffff00",
      title: _("Equity"), priceLineVisible: false, priceFormat: PERCENT_POINTS,
    });
    equitySeries.setData(curve);
    let peak = -Infinity;
    const falls = drawdown
      ? ordered(drawdown.map((p) => ({time: toSeconds(p.time), value: -Math.abs(p.value)})))
      : curve.map((p) => ({time: p.time, value: p.value - (peak = Math.max(peak, p.value, 0))}));
    const drawdownSeries = chart.addSeries(LC.AreaSeries, {
      lineColor: COLORS.down, lineWidth: 1, topColor: "#b4231800", bottomColor: "#b4231860",
      title: _("Drawdown"), priceLineVisible: false, priceFormat: PERCENT_POINTS,
    }, 1);
    drawdownSeries.setData(falls);
    chart.panes()[1]?.setStretchFactor(0.4);
    chart.timeScale().fitContent();
    Object.assign(container.dataset, {drawn: "equity", points: curve.length});
    return chart;
  }

  return {candles, equity, empty};
})();
