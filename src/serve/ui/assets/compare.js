// What changed between two states of a table, drawn from a comparison of the API
// (`stride diff` and `stride verify` give the same shape): the counts, the columns
// that changed and by how much, and example rows side by side.

import { h, num, whole } from "./dom.js";

function table(key, heads, rows) {
  return h(
    "div",
    { class: "table-scroll" },
    h("table", { class: "data", "data-table": key }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), h("tbody", {}, rows)),
  );
}

/** The comparison `c`, with its two sides called `from` and `to`. */
export function comparisonView(c, from, to) {
  const parts = [
    h(
      "p",
      { class: "compare-summary", "data-added": c.added, "data-removed": c.removed, "data-changed": c.changed },
      `${whole(c.rows_from)} rows in ${from}, ${whole(c.rows_to)} in ${to}: `,
      h("strong", {}, `${whole(c.added)} added, ${whole(c.removed)} removed, ${whole(c.changed)} changed`),
      ` (rows matched on ${c.key.join(", ") || "every column"}${c.key_unique ? "" : "; the key is not unique, rows sharing it were paired in order"}).`,
    ),
  ];
  if (c.columns_added.length) parts.push(h("p", { class: "muted" }, `Columns only in ${to}: ${c.columns_added.join(", ")}`));
  if (c.columns_removed.length) parts.push(h("p", { class: "muted" }, `Columns only in ${from}: ${c.columns_removed.join(", ")}`));
  const touched = c.columns.filter((col) => col.rows_changed > 0 || (col.net_change || 0) !== 0);
  if (touched.length && c.added + c.removed + c.changed > 0) {
    parts.push(
      table(
        "compare-columns",
        ["column", "rows changed", "Σ change (changed rows)", "net change of total"],
        touched.map((col) =>
          h(
            "tr",
            { "data-column": col.column },
            h("td", {}, col.column),
            h("td", { class: "num" }, whole(col.rows_changed)),
            h("td", { class: "num" }, col.sum_of_change === undefined ? "" : num(col.sum_of_change)),
            h("td", { class: "num" }, col.net_change === undefined ? "" : num(col.net_change)),
          ),
        ),
      ),
    );
  }
  if (c.examples.length) {
    const rows = [];
    for (const example of c.examples) {
      const key = Object.entries(example.key).map(([k, v]) => `${k}=${v}`).join(" ");
      example.columns.forEach((col, i) => {
        rows.push(
          h(
            "tr",
            { "data-kind": example.kind, "data-key": key, "data-column": col.column },
            h("td", {}, i ? "" : example.kind),
            h("td", {}, i ? "" : key),
            h("td", {}, col.column),
            h("td", {}, col.from ?? ""),
            h("td", {}, col.to ?? ""),
          ),
        );
      });
    }
    parts.push(h("h4", {}, "Examples"), table("compare-examples", ["change", "key", "column", from, to], rows));
  }
  return parts;
}
