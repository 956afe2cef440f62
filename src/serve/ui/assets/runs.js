// Runs: the list, and one run's page with a Gantt of its models (offset and width
// from the record), the raw files it checked and its log. A run still going is
// followed every second.

import { ApiError, ago, api, badge, between, duration, h, num, when, whole } from "./dom.js";

const FINAL = ["success", "failure", "canceled", "skipped"];

function committed(run) {
  return (run.models || []).filter((m) => m.version !== null && m.version !== undefined).length;
}

function rowsAdded(run) {
  return (run.models || []).reduce((sum, m) => sum + (m.rows_added || 0), 0);
}

function what(run) {
  const parts = [];
  if (run.options?.select) parts.push(`--select ${run.options.select}`);
  if (run.options?.full_refresh) parts.push("full refresh");
  if (run.retry_of) parts.push(`attempt ${run.attempt} of ${run.retry_of}`);
  return parts.join(" · ");
}

/** The runs as a table: trigger, status, start, duration, models committed, rows. */
export function runsTable(runs) {
  if (!runs.length) return h("p", { class: "muted" }, "No runs yet.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data", "data-table": "runs" },
      h("thead", {}, h("tr", {}, ["run", "trigger", "status", "started", "duration", "models committed", "rows added", ""].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        runs.map((run) =>
          h(
            "tr",
            { "data-run-id": run.run_id, "data-status": run.status },
            h("td", {}, h("a", { href: `/runs/${run.run_id}` }, run.run_id)),
            h("td", {}, run.trigger),
            h("td", {}, badge(run.status)),
            h("td", { title: when(run.started_at) }, ago(run.started_at)),
            h("td", { class: "num" }, run.status === "queued" ? "" : duration(between(run.started_at, run.ended_at))),
            h("td", { class: "num" }, whole(committed(run))),
            h("td", { class: "num" }, whole(rowsAdded(run))),
            h("td", { class: "muted clip" }, run.error || what(run)),
          ),
        ),
      ),
    ),
  );
}

export async function runsPage(main, _params, shell) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Runs"), h("p", { class: "muted" }, "Every run of this lake, newest first: by hand, by a schedule, by the sensor, or a retry."));
  const body = h("section", { class: "card" });
  main.append(head, body);
  const load = async () => body.replaceChildren(runsTable(await api("/api/runs?limit=100")));
  await load();
  shell.every(3000, () => load().catch(() => {}));
}

/** The Gantt of a run's models: one bar per model in the record, in its order. */
export function gantt(run) {
  const models = run.models || [];
  if (!models.length) return h("p", { class: "muted" }, run.status === "started" ? "Checking the raw files…" : "No models ran.");
  const end = Math.max(1, ...models.map((m) => m.start_offset_ms + m.elapsed_ms));
  const scale = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "gantt-tick", style: `left:${f * 100}%` }, duration((f * end) / 1000)));
  return h(
    "div",
    { class: "gantt", "data-models": models.length },
    h("div", { class: "gantt-row gantt-scale" }, h("div", { class: "gantt-label" }), h("div", { class: "gantt-track" }, scale)),
    models.map((m) => {
      const left = (m.start_offset_ms / end) * 100;
      const width = Math.max(0.4, (m.elapsed_ms / end) * 100);
      const rows = m.rows_added !== null && m.rows_added !== undefined ? ` · +${num(m.rows_added)} / −${num(m.rows_removed || 0)} rows` : "";
      const tip = `${m.model}: ${m.action}, ${duration(m.elapsed_ms / 1000)} from ${duration(m.start_offset_ms / 1000)}${m.version !== null && m.version !== undefined ? ` · v${m.version}` : ""}${rows}`;
      return h(
        "div",
        { class: `gantt-row action-${m.action.replace(/\s+/g, "-")}`, "data-model": m.model, "data-action": m.action },
        h("div", { class: "gantt-label" }, h("a", { href: `/models/${m.model}` }, m.model)),
        h(
          "div",
          { class: "gantt-track" },
          h("div", { class: "gantt-bar", style: `left:${left}%;width:${width}%`, title: tip }),
          // Past three quarters of the track the words go before the bar.
          left + width > 75
            ? h("span", { class: "gantt-text before", style: `right:${100 - left}%` }, `${m.action} · ${duration(m.elapsed_ms / 1000)}`)
            : h("span", { class: "gantt-text", style: `left:${left + width}%` }, `${m.action} · ${duration(m.elapsed_ms / 1000)}`),
          m.error ? h("div", { class: "gantt-error" }, m.error) : null,
        ),
      );
    }),
  );
}

function sourcesTable(run) {
  const sources = run.sources || [];
  if (!sources.length) return h("p", { class: "muted" }, "No new raw files.");
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data", "data-table": "checked" },
      h("thead", {}, h("tr", {}, ["raw table", "files", "rows read", "= loaded", "+ quarantined", "+ redelivered", "files refused"].map((t) => h("th", { class: t === "raw table" ? "" : "num" }, t)))),
      h(
        "tbody",
        {},
        sources.map((s) =>
          h(
            "tr",
            { "data-name": s.table },
            h("td", {}, h("a", { href: `/quarantine#${s.table}` }, `raw.${s.table}`)),
            h("td", { class: "num" }, whole(s.files)),
            h("td", { class: "num", "data-value": s.rows_read }, whole(s.rows_read)),
            h("td", { class: "num", "data-value": s.rows_loaded }, whole(s.rows_loaded)),
            h("td", { class: "num", "data-value": s.rows_quarantined }, whole(s.rows_quarantined)),
            h("td", { class: "num", "data-value": s.rows_redelivered }, whole(s.rows_redelivered)),
            h("td", { class: "num" }, whole(s.files_refused)),
          ),
        ),
      ),
    ),
  );
}

export async function runPage(main, [runId], shell) {
  const head = h("div", { class: "page-head" });
  const summary = h("div", { class: "stats" });
  const timeline = h("section", { class: "card" }, h("h3", {}, "Models"));
  const checked = h("section", { class: "card" }, h("h3", {}, "Raw files checked"));
  const log = h("section", { class: "card" }, h("h3", {}, "Log"));
  main.append(head, summary, timeline, checked, log);
  let done = false;
  const show = async () => {
    const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
    const final = FINAL.includes(run.status);
    main.dataset.status = run.status;
    head.replaceChildren(h("h1", {}, `Run ${run.run_id} `, badge(run.status)), h("p", { class: "muted" }, [run.trigger, what(run), run.tick ? `tick ${when(run.tick.at)}` : ""].filter(Boolean).join(" · ")));
    const planned = (run.planned || []).length;
    summary.replaceChildren(
      h("div", { class: "stat" }, h("div", { class: "stat-label" }, "Started"), h("div", { class: "stat-value small" }, when(run.started_at)), h("div", { class: "stat-detail" }, `${run.host || ""} pid ${run.pid ?? ""}`)),
      h("div", { class: "stat" }, h("div", { class: "stat-label" }, "Duration"), h("div", { class: "stat-value" }, duration(between(run.started_at, run.ended_at))), h("div", { class: "stat-detail" }, final ? `ended ${ago(run.ended_at)}` : planned ? `${run.models.filter((m) => m.action !== "running").length} of ${planned} models` : "checking raw files")),
      h("div", { class: "stat" }, h("div", { class: "stat-label" }, "Models committed"), h("div", { class: "stat-value" }, whole(committed(run))), h("div", { class: "stat-detail" }, `${whole(rowsAdded(run))} rows added`)),
      h("div", { class: "stat" }, h("div", { class: "stat-label" }, "Published"), h("div", { class: "stat-value small" }, run.published || (final ? "no" : "not yet")), h("div", { class: "stat-detail" }, "")),
    );
    if (run.error) summary.append(h("div", { class: "error-box wide", "data-error-kind": run.error_kind || "" }, `${run.error_kind ? `${run.error_kind}: ` : ""}${run.error}`));
    timeline.replaceChildren(h("h3", {}, "Models"), gantt(run));
    checked.replaceChildren(h("h3", {}, "Raw files checked"), h("p", { class: "muted" }, "Every row read is loaded, set aside in quarantine, or left out as a redelivery."), sourcesTable(run));
    if (final && !done) {
      done = true;
      let text;
      try {
        text = await api(`/api/runs/${encodeURIComponent(runId)}/log`, { as: "text" });
      } catch (error) {
        text = error instanceof ApiError && error.status === 404 ? "(no log kept)" : error.message;
      }
      log.replaceChildren(h("h3", {}, "Log"), h("pre", { id: "run-log", class: "log" }, text || "(empty)"));
    } else if (!final) {
      log.replaceChildren(h("h3", {}, "Log"), h("p", { class: "muted" }, "The log is kept when the run ends."));
    }
    return final;
  };
  if (!(await show())) {
    const stop = shell.every(1000, async () => {
      if (await show().catch(() => false)) stop();
    });
  }
}
