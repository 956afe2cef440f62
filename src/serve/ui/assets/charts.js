// Charts drawn as SVG by hand (no library to vendor): grouped bars, horizontal
// bars and lines, each with a table of the numbers under it. The table cells keep
// the exact value in `data-value`, as `stride query --format json` gives it.

import { api, compact, fixed, h, num, s } from "./dom.js";

/** Colours of the series, in order; the five attribution models use the first five. */
export const PALETTE = ["#2f6fdb", "#e07b39", "#2a9d8f", "#9b5de5", "#d64571", "#6c757d", "#c9a227"];

/** Round steps for an axis from 0 to `max`. */
function ticks(max, count = 5) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw) || raw;
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(v);
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

function legend(series) {
  return h(
    "div",
    { class: "legend" },
    series.map((serie, i) =>
      h("span", { class: "legend-item" }, h("i", { class: `swatch c${i}` }), serie.name),
    ),
  );
}

/** Vertical grouped bars: one group per category, one bar per series. */
export function groupedBars({ categories, series, label = "" }) {
  const width = 760;
  const height = 300;
  const pad = { left: 56, right: 12, top: 12, bottom: 44 };
  const values = series.flatMap((serie) => serie.values.map(Number));
  const axis = ticks(Math.max(0, ...values));
  const top = axis[axis.length - 1] || 1;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const y = (v) => pad.top + plotH - (Math.max(0, v) / top) * plotH;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = Math.max(2, (groupW * 0.8) / Math.max(1, series.length));
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
  for (const v of axis) {
    svg.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, compact(v)),
    );
  }
  categories.forEach((category, c) => {
    const x0 = pad.left + c * groupW + groupW * 0.1;
    series.forEach((serie, i) => {
      const v = Number(serie.values[c]) || 0;
      svg.append(
        s(
          "rect",
          { x: x0 + i * barW, y: y(v), width: Math.max(1, barW - 1), height: Math.max(0, y(0) - y(v)), class: `bar c${i}` },
          s("title", {}, `${category} · ${serie.name}: ${num(v)}`),
        ),
      );
    });
    svg.append(
      s("text", { x: pad.left + c * groupW + groupW / 2, y: height - pad.bottom + 16, class: "tick", "text-anchor": "middle" }, category),
    );
  });
  return h("div", { class: "chart-box" }, legend(series), svg);
}

/** Horizontal bars, one per row: for long labels such as campaign names. */
export function horizontalBars({ labels, values, name, colour = 0, format = num }) {
  const rowH = 24;
  const width = 760;
  const labelW = 230;
  const height = labels.length * rowH + 24;
  const axis = ticks(Math.max(0, ...values.map(Number)));
  const top = axis[axis.length - 1] || 1;
  const plotW = width - labelW - 70;
  const x = (v) => labelW + (Math.max(0, v) / top) * plotW;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": name });
  for (const v of axis) {
    svg.append(
      s("line", { x1: x(v), x2: x(v), y1: 0, y2: height - 18, class: "grid" }),
      s("text", { x: x(v), y: height - 4, class: "tick", "text-anchor": "middle" }, compact(v)),
    );
  }
  labels.forEach((label, i) => {
    const v = Number(values[i]) || 0;
    const top = i * rowH + 3;
    const text = label.length > 32 ? `${label.slice(0, 31)}…` : label;
    svg.append(
      s("text", { x: labelW - 8, y: top + rowH / 2 + 1, class: "tick label", "text-anchor": "end" }, text),
      s(
        "rect",
        { x: labelW, y: top, width: Math.max(1, x(v) - labelW), height: rowH - 8, class: `bar c${colour}` },
        s("title", {}, `${label} · ${name}: ${format(v)}`),
      ),
      s("text", { x: x(v) + 4, y: top + rowH / 2 + 1, class: "tick value" }, format(v)),
    );
  });
  return h("div", { class: "chart-box" }, svg);
}

/** Lines over dates (or any ordered x), one per series. */
export function lines({ xs, series, label = "" }) {
  const width = 760;
  const height = 280;
  const pad = { left: 56, right: 12, top: 12, bottom: 40 };
  const values = series.flatMap((serie) => serie.values.map(Number).filter(Number.isFinite));
  const axis = ticks(Math.max(0, ...values));
  const top = axis[axis.length - 1] || 1;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const x = (i) => pad.left + (xs.length < 2 ? plotW / 2 : (i / (xs.length - 1)) * plotW);
  const y = (v) => pad.top + plotH - (Math.max(0, v) / top) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": label });
  for (const v of axis) {
    svg.append(
      s("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: pad.left - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, compact(v)),
    );
  }
  const every = Math.max(1, Math.ceil(xs.length / 8));
  const lastLabelled = Math.floor((xs.length - 1) / every) * every;
  xs.forEach((value, i) => {
    if (i % every === 0 || (i === xs.length - 1 && i - lastLabelled >= every / 2)) {
      svg.append(s("text", { x: x(i), y: height - pad.bottom + 18, class: "tick", "text-anchor": "middle" }, String(value).slice(5)));
    }
  });
  series.forEach((serie, k) => {
    const points = serie.values
      .map((v, i) => (v === null || v === undefined ? null : `${x(i).toFixed(1)},${y(Number(v)).toFixed(1)}`))
      .filter(Boolean);
    // The first line is drawn wide and pale so a line on top of it stays visible.
    svg.append(s("polyline", { points: points.join(" "), class: `line c${k}${k === 0 ? " under" : ""}` }));
    serie.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      svg.append(s("circle", { cx: x(i), cy: y(Number(v)), r: 2.5, class: `dot c${k}` }, s("title", {}, `${xs[i]} · ${serie.name}: ${num(v)}`)));
    });
  });
  return h("div", { class: "chart-box" }, legend(series), svg);
}

/** A table of rows (objects) in the order of `columns`; each cell keeps its exact
 * value in `data-value` (JSON), and shows it formatted. */
export function dataTable(columns, rows, { key } = {}) {
  const numeric = (type) => /Int|UInt|Float|Decimal/.test(type || "");
  const cell = (column, value) => {
    if (value === null) return "";
    if (!numeric(column.type) || /(^|_)id$/.test(column.name)) return String(value);
    const scale = /Decimal\d*\(\d+, *(\d+)\)/.exec(column.type);
    return scale ? fixed(value, Number(scale[1])) : num(value);
  };
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data", dataset: key ? { table: key } : {} },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: numeric(c.type) ? "num" : "" }, c.name)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            columns.map((c) => {
              const value = row[c.name] === undefined ? null : row[c.name];
              return h("td", { class: numeric(c.type) ? "num" : "", "data-value": JSON.stringify(value), "data-column": c.name }, cell(c, value));
            }),
          ),
        ),
      ),
    ),
  );
}

/** A button that downloads an analysis as the CSV `stride query --format csv` gives. */
export function csvButton(name) {
  return h(
    "button",
    {
      class: "ghost small",
      type: "button",
      "data-csv": name,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          const text = await api(`/api/analyses/${encodeURIComponent(name)}?format=csv`, { as: "text" });
          const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
          const link = h("a", { href: url, download: `${name}.csv` });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 1000);
        } finally {
          button.disabled = false;
        }
      },
    },
    "CSV",
  );
}
