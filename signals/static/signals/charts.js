// Small SVG charts for the dashboard: candles with signal levels, and a line (equity curve).
// No library: a few hundred shapes per chart, redrawn whole when the data or the size changes.
"use strict";

const Charts = (() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const priceFormat = new Intl.NumberFormat(undefined, {maximumSignificantDigits: 6});

  function el(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs = {}) {
    const node = el("text", {x, y, ...attrs}, parent);
    node.textContent = content;
    return node;
  }

  // The drawing area: the element's own size, so the chart stays sharp at any width.
  function frame(svg) {
    const width = Math.max(svg.clientWidth || 600, 240);
    const height = Math.max(svg.clientHeight || 260, 140);
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    return {width, height};
  }

  function niceTicks(min, max, count) {
    const span = max - min || Math.abs(max) || 1;
    const rough = span / count;
    const magnitude = 10 ** Math.floor(Math.log10(rough));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
    const ticks = [];
    for (let i = Math.ceil(min / step); i * step <= max + step * 1e-9; i++) {
      ticks.push(i === 0 ? 0 : i * step);  // counting steps avoids -0 and drifting sums
    }
    return ticks;
  }

  function timeLabel(date, spanMs) {
    const options = spanMs > 86400e3
      ? {month: "short", day: "numeric"}
      : {hour: "2-digit", minute: "2-digit"};
    return date.toLocaleString(undefined, options);
  }

  function empty(svg, message) {
    const {width, height} = frame(svg);
    text(svg, width / 2, height / 2, message, {"text-anchor": "middle", class: "chart-empty"});
  }

  // candles: [{time, open, high, low, close}]; levels: [{label, value, kind}]; marker: ISO time.
  function candles(svg, allRows, levels = [], marker = null) {
    if (!allRows.length) return empty(svg, "No candles");
    const {width, height} = frame(svg);
    const pad = {left: 6, right: 104, top: 10, bottom: 22};
    const plotWidth = width - pad.left - pad.right;
    const plotHeight = height - pad.top - pad.bottom;
    // A candle needs a few pixels to be read: a narrow screen shows the most recent ones.
    const rows = allRows.slice(-Math.max(10, Math.floor(plotWidth / 4)));
    const values = rows.flatMap((c) => [c.high, c.low]).concat(levels.map((l) => l.value));
    let low = Math.min(...values);
    let high = Math.max(...values);
    const margin = (high - low) * 0.05 || Math.abs(high) * 0.01 || 1;
    low -= margin;
    high += margin;
    const band = plotWidth / rows.length;
    const x = (i) => pad.left + band * (i + 0.5);
    const y = (v) => pad.top + (high - v) / (high - low) * plotHeight;

    const grid = el("g", {class: "grid"}, svg);
    for (const tick of niceTicks(low, high, 5)) {
      el("line", {x1: pad.left, x2: pad.left + plotWidth, y1: y(tick), y2: y(tick)}, grid);
      text(grid, width - pad.right + 4, y(tick) + 4, priceFormat.format(tick), {class: "axis"});
    }
    const times = rows.map((c) => new Date(c.time));
    const spanMs = times[times.length - 1] - times[0];
    const every = Math.max(1, Math.ceil(rows.length / Math.max(2, Math.floor(plotWidth / 90))));
    for (let i = Math.floor(every / 2); i < rows.length; i += every) {
      text(grid, x(i), height - 6, timeLabel(times[i], spanMs), {class: "axis", "text-anchor": "middle"});
    }

    if (marker) {
      const at = new Date(marker).getTime();
      const index = times.findIndex((t) => t.getTime() >= at);
      if (index >= 0) {
        el("line", {x1: x(index), x2: x(index), y1: pad.top, y2: pad.top + plotHeight,
                    class: "marker"}, svg);
      }
    }

    const body = Math.max(1, band * 0.7);
    const bars = el("g", {}, svg);
    rows.forEach((c, i) => {
      const kind = c.close >= c.open ? "up" : "down";
      el("line", {x1: x(i), x2: x(i), y1: y(c.high), y2: y(c.low), class: `wick ${kind}`}, bars);
      const top = y(Math.max(c.open, c.close));
      el("rect", {x: x(i) - body / 2, y: top, width: body,
                  height: Math.max(1, y(Math.min(c.open, c.close)) - top), class: kind}, bars);
    });

    for (const level of levels) {
      const g = el("g", {class: `level ${level.kind}`}, svg);
      el("line", {x1: pad.left, x2: pad.left + plotWidth, y1: y(level.value), y2: y(level.value)}, g);
      el("rect", {x: width - pad.right + 1, y: y(level.value) - 9, width: pad.right - 2,
                  height: 18, rx: 3}, g);
      text(g, width - pad.right + 4, y(level.value) + 4,
           `${level.label} ${priceFormat.format(level.value)}`);
    }
  }

  // points: [{time, value}] in time order; the zero line is drawn when it is in range.
  function line(svg, points, {emptyMessage = "No data yet", unit = ""} = {}) {
    if (!points.length) return empty(svg, emptyMessage);
    const {width, height} = frame(svg);
    const pad = {left: 6, right: 58, top: 10, bottom: 22};
    const plotWidth = width - pad.left - pad.right;
    const plotHeight = height - pad.top - pad.bottom;
    const times = points.map((p) => new Date(p.time).getTime());
    const values = points.map((p) => p.value);
    let low = Math.min(0, ...values);
    let high = Math.max(0, ...values);
    const margin = (high - low) * 0.08 || 1;
    low -= margin;
    high += margin;
    const first = times[0];
    const span = times[times.length - 1] - first;
    const x = (t, i) => pad.left + (span ? (t - first) / span : i / Math.max(1, points.length - 1))
      * plotWidth;
    const y = (v) => pad.top + (high - v) / (high - low) * plotHeight;

    const grid = el("g", {class: "grid"}, svg);
    for (const tick of niceTicks(low, high, 4)) {
      el("line", {x1: pad.left, x2: pad.left + plotWidth, y1: y(tick), y2: y(tick),
                  class: tick === 0 ? "zero" : ""}, grid);
      text(grid, width - pad.right + 4, y(tick) + 4, `${priceFormat.format(tick)}${unit}`,
           {class: "axis"});
    }
    text(grid, pad.left, height - 6, timeLabel(new Date(first), span), {class: "axis"});
    text(grid, pad.left + plotWidth, height - 6, timeLabel(new Date(first + span), span),
         {class: "axis", "text-anchor": "end"});

    const coords = points.map((p, i) => `${x(times[i], i).toFixed(1)},${y(p.value).toFixed(1)}`);
    const kind = values[values.length - 1] >= 0 ? "up" : "down";
    el("polygon", {points: `${x(first, 0)},${y(0)} ${coords.join(" ")} ` +
                           `${x(first + span, points.length - 1)},${y(0)}`,
                   class: `area ${kind}`}, svg);
    el("polyline", {points: coords.join(" "), class: `curve ${kind}`}, svg);
  }

  return {candles, line};
})();
