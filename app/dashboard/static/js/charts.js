// uPlot charts: a job's loss curves, which grow as epochs arrive, and a forecast with its
// interval bands. uPlot comes from the classic script in index.html (window.uPlot). Each chart
// keeps data attributes on its container (data-points, data-bands) saying what it holds, for
// people inspecting the page and for the browser tests.
import { number } from "./dom.js";

const COLORS = {
  train: "#1d4ed8",
  validation: "#b45309",
  history: "#1f2937",
  forecast: "#1d4ed8",
};
// One band colour per level, the widest level palest; stroke colours of the band edges.
const BAND_FILLS = [
  "rgba(29, 78, 216, 0.12)",
  "rgba(29, 78, 216, 0.24)",
  "rgba(29, 78, 216, 0.36)",
];
const BAND_STROKE = "rgba(29, 78, 216, 0.55)";
const HEIGHT = 320;

function plotWidth(container) {
  return Math.max(260, Math.floor(container.getBoundingClientRect().width) || 600);
}

function valueOf(_plot, value) {
  return number(value);
}

/** A uPlot chart in `container` that follows its width; returns the plot and its destroy. */
function makePlot(container, options, data) {
  const plot = new window.uPlot(
    { width: plotWidth(container), height: HEIGHT, ...options },
    data,
    container,
  );
  const observer = new ResizeObserver(() =>
    plot.setSize({ width: plotWidth(container), height: HEIGHT }),
  );
  observer.observe(container);
  return {
    plot,
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}

/**
 * Train and validation loss per epoch, on a log scale. `set(history)` draws a job's history
 * ([{epoch, train_loss, val_loss}]); `append(record)` adds one epoch.
 */
export function lossChart(container) {
  const columns = [[], [], []];
  const { plot, destroy } = makePlot(
    container,
    {
      scales: { x: { time: false }, y: { distr: 3 } },
      series: [
        { label: "epoch" },
        { label: "train", stroke: COLORS.train, width: 2, value: valueOf },
        { label: "validation", stroke: COLORS.validation, width: 2, dash: [8, 4], value: valueOf },
      ],
      axes: [{ label: "epoch" }, { label: "MSE (scaled units)", size: 70, values: logTicks }],
    },
    columns,
  );
  const draw = () => {
    plot.setData(columns);
    container.dataset.points = String(columns[0].length);
  };
  const push = (record) => {
    columns[0].push(record.epoch);
    columns[1].push(positive(record.train_loss));
    columns[2].push(positive(record.val_loss));
  };
  draw();
  return {
    get points() {
      return columns[0].length;
    },
    set(history) {
      for (const column of columns) column.length = 0;
      history.forEach(push);
      draw();
    },
    append(record) {
      push(record);
      draw();
    },
    destroy,
  };
}

// uPlot's own labels round small powers of ten to 0 on a log scale: 1e-4 stays 1e-4 here.
// A split without a tick (null) keeps an empty label.
function logTicks(_plot, splits) {
  return splits.map((value) => {
    if (value === null) return "";
    return value >= 1e-3 && value < 1e4 ? String(value) : value.toExponential(0);
  });
}

function plainTicks(_plot, splits) {
  return splits.map((value) => (value === null ? "" : String(value)));
}

// A log scale has no place for zero or a missing value: both become a gap.
function positive(value) {
  return typeof value === "number" && value > 0 ? value : null;
}

/**
 * History, forecast and one band per interval level. `x` has one value per history step and
 * forecast step; `intervals` is [{level, lower, upper}] (their rows may stop before the
 * horizon), drawn widest first.
 */
export function forecastChart(container, { x, xLabel, history, forecast, intervals, yLabel }) {
  const steps = history.length;
  const after = (values) => [...Array(steps).fill(null), ...pad(values, forecast.length)];
  // The forecast line starts at the last observed value, so the two lines join.
  const columns = [
    x,
    [...history, ...Array(forecast.length).fill(null)],
    [...Array(steps - 1).fill(null), history[steps - 1], ...forecast],
  ];
  const series = [
    { label: xLabel },
    { label: "history", stroke: COLORS.history, width: 1.5, value: valueOf },
    { label: "forecast", stroke: COLORS.forecast, width: 2, dash: [6, 3], value: valueOf },
  ];
  const bands = [];
  intervals.forEach((interval, index) => {
    columns.push(after(interval.upper), after(interval.lower));
    const edge = { stroke: BAND_STROKE, width: 1, value: valueOf };
    series.push(
      { ...edge, label: `${interval.level}% upper` },
      { ...edge, label: `${interval.level}% lower` },
    );
    const fill = BAND_FILLS[Math.min(index, BAND_FILLS.length - 1)];
    bands.push({ series: [series.length - 2, series.length - 1], fill });
  });
  const chart = makePlot(
    container,
    {
      scales: { x: { time: false } },
      series,
      bands,
      // Steps and years as plain integers (uPlot's default would print 2,000).
      axes: [
        { label: xLabel, values: plainTicks },
        { label: yLabel, size: 70 },
      ],
    },
    columns,
  );
  container.dataset.points = String(forecast.length);
  container.dataset.bands = String(bands.length);
  return chart;
}

function pad(values, length) {
  return [...values, ...Array(Math.max(0, length - values.length)).fill(null)];
}
