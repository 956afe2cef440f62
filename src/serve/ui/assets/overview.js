// The overview: are the marts fresh, what did the last runs do, when is the next
// tick, what sits in quarantine, and the headline charts.

import { ago, api, badge, between, duration, h, num, when, whole } from "./dom.js";
import { comparisonView } from "./compare.js";
import { analysisCard } from "./marts.js";
import { runsTable } from "./runs.js";

function card(label, value, detail, state) {
  return h("div", { class: `stat ${state ? `state-${state}` : ""}` }, h("div", { class: "stat-label" }, label), h("div", { class: "stat-value" }, value), h("div", { class: "stat-detail" }, detail));
}

function waitingText(batches, files) {
  if (!batches && !files) return "none";
  const b = `${batches} batch${batches === 1 ? "" : "es"}`;
  return files === undefined ? b : `${b} · ${whole(files)} file${files === 1 ? "" : "s"}`;
}

function freshnessTables(freshness) {
  const table = (key, heads, rows) =>
    h("div", { class: "table-scroll" }, h("table", { class: "data", "data-table": key }, h("thead", {}, h("tr", {}, heads.map((t) => h("th", {}, t)))), h("tbody", {}, rows)));
  const marts = table(
    "marts",
    ["mart", "state", "version", "committed", "data up to", "behind"],
    freshness.marts.map((m) =>
      h(
        "tr",
        { "data-name": m.mart, "data-state": m.state },
        h("td", {}, h("a", { href: `/models/${m.mart}` }, m.mart)),
        h("td", {}, badge(m.state)),
        h("td", { class: "num" }, m.version ?? ""),
        h("td", { title: when(m.committed_at) }, m.committed_at ? ago(m.committed_at) : "never"),
        h("td", {}, m.newest_batch || ""),
        h("td", {}, waitingText(m.batches_behind)),
      ),
    ),
  );
  const sources = table(
    "sources",
    ["source", "state", "newest landed", "newest consumed", "behind"],
    freshness.sources.map((s) =>
      h(
        "tr",
        { "data-name": s.table, "data-state": s.state, title: s.last_consumed_at ? `last consumed ${when(s.last_consumed_at)}` : "never consumed" },
        h("td", {}, h("a", { href: `/quarantine#${s.table}` }, `raw.${s.table}`)),
        h("td", {}, badge(s.state)),
        h("td", {}, s.newest_batch_landed || "none"),
        h("td", {}, s.newest_batch_consumed || "none"),
        h("td", {}, waitingText(s.batches_behind, s.files_waiting)),
      ),
    ),
  );
  return [h("section", { class: "card" }, h("h3", {}, "Marts"), marts), h("section", { class: "card" }, h("h3", {}, "Sources"), sources)];
}

/** The last `stride verify` and a button that starts one; follows it to its end. */
function verifyCard(shell) {
  const card = h("section", { class: "card", id: "verify" });
  const body = h("div", {});
  const button = h("button", { type: "button", id: "verify-run" }, "Verify now");
  const show = (state) => {
    card.dataset.running = state.running ? "true" : "false";
    button.disabled = state.running;
    const last = state.last;
    const parts = [];
    if (state.running) parts.push(h("p", { class: "muted" }, `Rebuilding and comparing since ${when(state.since)}…`));
    if (state.error) parts.push(h("p", { class: "error-box" }, state.error));
    if (!last) {
      if (!state.running) parts.push(h("p", { class: "muted" }, "No verify yet: it rebuilds the models from the raw files their current versions consumed, in a scratch folder, and compares each with its table."));
    } else {
      const differing = last.models.filter((m) => m.verdict !== "equal");
      card.dataset.verdict = differing.length ? "differs" : "equal";
      card.dataset.id = last.id;
      parts.push(
        h(
          "p",
          {},
          badge(differing.length ? "failure" : "success", differing.length ? `${differing.length} differ` : `all ${last.models.length} equal`),
          ` ${ago(last.started_at)} · ${duration(last.elapsed_s)} · ${whole(last.raw_files)} raw files · floats within ${last.float_tolerance}`,
        ),
      );
      for (const m of differing) {
        parts.push(h("h4", {}, h("a", { href: `/models/${m.model}` }, m.model), ` (version ${m.version}) against its rebuild`), ...comparisonView(m.comparison, "current", "rebuilt"));
      }
    }
    body.replaceChildren(...parts);
  };
  const follow = async () => {
    const state = await api("/api/verify");
    show(state);
    return state;
  };
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("/api/verify", { method: "POST", body: {} });
    } catch (error) {
      body.prepend(h("p", { class: "error-box" }, error.message));
    }
    await follow();
  });
  shell.every(2000, async () => {
    if (card.dataset.running === "true") await follow().catch(() => null);
  });
  card.append(h("div", { class: "card-head" }, h("h3", {}, "Incremental = rebuild"), button), body);
  follow().catch((error) => body.replaceChildren(h("p", { class: "error-box" }, error.message)));
  return card;
}

export async function overviewPage(main, _params, shell) {
  main.append(h("div", { class: "page-head" }, h("h1", {}, "Overview")));
  const analysesSoon = api("/api/analyses");
  const [freshness, runs, schedules, contracts] = await Promise.all([api("/api/freshness"), api("/api/runs?limit=8"), api("/api/schedules"), api("/api/contracts")]);

  const stale = freshness.marts.filter((m) => m.state !== "fresh");
  const last = runs.find((r) => !["queued"].includes(r.status));
  const next = schedules.schedules.map((s) => s.next_tick).filter(Boolean).sort()[0];
  const quarantined = contracts.contracts.filter((c) => c.quarantine).reduce((sum, c) => sum + (c.quarantine.rows_quarantined || 0), 0);
  const refused = contracts.contracts.filter((c) => c.quarantine).reduce((sum, c) => sum + (c.quarantine.files_refused || 0), 0);
  const behind = Math.max(0, ...freshness.sources.map((s) => s.batches_behind || 0));
  main.append(
    h(
      "div",
      { class: "stats" },
      card("Marts", stale.length ? `${stale.length} of ${freshness.marts.length} not fresh` : `${freshness.marts.length} fresh`, behind ? `${behind} batch${behind === 1 ? "" : "es"} waiting` : "every landed batch consumed", stale.length ? "stale" : "fresh"),
      card("Last run", last ? badge(last.status) : "none yet", last ? `${ago(last.started_at)} · ${duration(between(last.started_at, last.ended_at))}` : "start one with Run now", last ? last.status : ""),
      card("Next tick", next ? ago(next) : "no schedule", next ? `${when(next)} · ${schedules.schedules.map((s) => s.schedule).join(", ")}` : "serve --schedule \"0 * * * *\""),
      card("Quarantine", `${whole(quarantined)} rows`, `${whole(refused)} files refused`, quarantined || refused ? "warn" : ""),
    ),
    h("div", { class: "grid-2 freshness" }, freshnessTables(freshness)),
    h("section", { class: "card" }, h("div", { class: "card-head" }, h("h3", {}, "Recent runs"), h("a", { href: "/runs" }, "all runs →")), runsTable(runs)),
    verifyCard(shell),
  );
  const charts = h("div", { class: "grid-2" }, h("p", { class: "muted" }, "Loading the charts…"));
  main.append(charts);
  const analyses = await analysesSoon;
  const headline = ["revenue_by_channel_last_7_days", "daily_revenue_trend"].map((n) => analyses.find((a) => a.name === n)).filter(Boolean);
  charts.replaceChildren(...headline.map((a) => analysisCard(a, { table: false })));
  shell.every(10000, async () => {
    // Keep freshness current while the page is open: a run ending changes it.
    const now = await api("/api/freshness").catch(() => null);
    if (!now) return;
    const [marts, sources] = freshnessTables(now);
    const grid = main.querySelector(".freshness");
    if (grid) grid.replaceChildren(marts, sources);
  });
  const refresh = () => shell.navigate("/");
  document.addEventListener("stride:run-ended", refresh);
  shell.onLeave(() => document.removeEventListener("stride:run-ended", refresh));
}
