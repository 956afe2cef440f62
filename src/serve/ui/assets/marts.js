// The marts as charts, each drawn from one saved analysis of queries/analyses/
// (run by the server on the current marts, as `stride query` runs it), with the
// analysis's table under the chart and its CSV.

import { api, h, num } from "./dom.js";
import { csvButton, dataTable, groupedBars, horizontalBars, lines } from "./charts.js";

const MODELS = ["first_touch", "last_touch", "linear", "time_decay", "position_based"];

/** How each known analysis is drawn; other analyses get their table only. */
const CHARTS = {
  revenue_by_channel_last_7_days: channelChart,
  revenue_by_channel_last_30_days: channelChart,
  daily_revenue_trend: (a) =>
    lines({
      xs: a.rows.map((r) => r.order_date),
      series: [
        { name: "net revenue", values: a.rows.map((r) => r.net_revenue ?? null) },
        { name: "attributed (linear)", values: a.rows.map((r) => r.attributed_revenue_linear ?? null) },
      ],
      label: "daily revenue",
    }),
  top_campaigns_by_roas: (a) =>
    h(
      "div",
      { class: "pair" },
      h("div", {}, h("h4", {}, "ROAS (revenue per unit of spend)"), horizontalBars({ labels: a.rows.map(campaignLabel), values: a.rows.map((r) => r.roas), name: "ROAS", colour: 2 })),
      h("div", {}, h("h4", {}, "CPA (spend per attributed order)"), horizontalBars({ labels: a.rows.map(campaignLabel), values: a.rows.map((r) => r.cpa), name: "CPA", colour: 1 })),
    ),
  channel_share_data_driven: (a) =>
    h(
      "div",
      { class: "pair" },
      h(
        "div",
        {},
        h("h4", {}, "Share of conversions: rule-based beside data-driven"),
        groupedBars({
          categories: a.rows.map((r) => String(r.channel)),
          series: [
            { name: "last_touch", values: a.rows.map((r) => r.last_touch_share ?? 0) },
            { name: "markov", values: a.rows.map((r) => r.markov_share ?? 0) },
            { name: "shapley", values: a.rows.map((r) => r.shapley_share ?? 0) },
          ],
          label: "share of conversions by channel",
        }),
      ),
      h(
        "div",
        {},
        h("h4", {}, "ROAS per channel (paid channels)"),
        groupedBars({
          categories: a.rows.filter((r) => r.markov_roas != null).map((r) => String(r.channel)),
          series: ["last_touch", "markov", "shapley"].map((m) => ({
            name: m,
            values: a.rows.filter((r) => r.markov_roas != null).map((r) => r[`${m}_roas`] ?? 0),
          })),
          label: "ROAS by channel",
        }),
      ),
    ),
  acquisition_channel_ltv: (a) =>
    horizontalBars({
      labels: a.rows.map((r) => String(r.acquisition_channel)),
      values: a.rows.map((r) => r.avg_lifetime_revenue),
      name: "average lifetime revenue",
      colour: 3,
    }),
};

const TITLES = {
  revenue_by_channel_last_7_days: "Attributed revenue by channel, last 7 days",
  revenue_by_channel_last_30_days: "Attributed revenue by channel, last 30 days",
  daily_revenue_trend: "Daily revenue",
  top_campaigns_by_roas: "Top campaigns by ROAS, with their CPA",
  acquisition_channel_ltv: "Lifetime value by acquisition channel",
  channel_share_data_driven: "Channel share: last touch beside the data-driven models",
};

function campaignLabel(row) {
  return `${row.campaign_name ?? row.campaign_id} (${row.channel ?? ""})`;
}

function channelChart(a) {
  return groupedBars({
    categories: a.rows.map((r) => String(r.channel)),
    series: MODELS.map((m) => ({ name: m, values: a.rows.map((r) => r[m] ?? 0) })),
    label: "attributed revenue by channel",
  });
}

/** One analysis: title, chart, and the table of its numbers. */
export function analysisCard(analysis, { table = true } = {}) {
  const title = TITLES[analysis.name] || analysis.name;
  const card = h(
    "section",
    { class: "card analysis", "data-analysis": analysis.name },
    h("div", { class: "card-head" }, h("h3", {}, title), h("span", { class: "muted" }, analysis.file), csvButton(analysis.name)),
  );
  if (analysis.error) {
    card.append(h("div", { class: "error-box" }, analysis.error));
    return card;
  }
  if (!analysis.rows.length) {
    card.append(h("p", { class: "muted" }, "No rows yet: run the models first."));
    return card;
  }
  if (CHARTS[analysis.name]) card.append(CHARTS[analysis.name](analysis));
  if (table) {
    // Long tables start folded; the chart already shows their shape.
    card.append(h("details", { class: "numbers", open: analysis.rows.length <= 12 }, h("summary", {}, `The numbers (${num(analysis.rows.length)} rows)`), dataTable(analysis.columns, analysis.rows, { key: analysis.name })));
  }
  return card;
}

/** Analyses drawn across the whole page (the others take half of it). */
const WIDE = ["top_campaigns_by_roas"];

export async function martsPage(main, _params, shell) {
  const head = h("div", { class: "page-head section-head" }, h("div", {}, h("h1", {}, "Marts"), h("p", { class: "muted" }, "Each chart is a saved analysis of queries/analyses/ run on the latest marts; the table under it holds its exact numbers.")));
  main.append(head);
  const analyses = await api("/api/analyses");
  const byName = Object.fromEntries(analyses.map((a) => [a.name, a]));
  const grid = h("div", { class: "grid-2" });
  const windowed = ["revenue_by_channel_last_7_days", "revenue_by_channel_last_30_days"].filter((n) => byName[n]);
  if (windowed.length) {
    const slot = h("div", { class: "stack" });
    const switcher = h("div", { class: "switch", role: "group", "aria-label": "attribution window" });
    const show = (name) => {
      slot.replaceChildren(analysisCard(byName[name]));
      switcher.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.window === name));
    };
    switcher.append(...windowed.map((name) => h("button", { type: "button", class: "ghost small", "data-window": name, onclick: () => show(name) }, name.endsWith("7_days") ? "Last 7 days" : "Last 30 days")));
    head.append(h("label", { class: "inline" }, "Attribution window", switcher));
    grid.append(slot);
    show(windowed[0]);
  }
  for (const analysis of analyses) {
    if (windowed.includes(analysis.name)) continue;
    const card = analysisCard(analysis);
    if (WIDE.includes(analysis.name)) card.classList.add("wide");
    grid.append(card);
  }
  main.append(grid);
}
