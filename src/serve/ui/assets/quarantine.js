// Quarantine: per raw table and file, the rows set aside by each rule and the
// files refused with their reasons, and the replay that judges them again.

import { api, badge, h, whole } from "./dom.js";

function replayButton(shell, table, after) {
  return h(
    "button",
    {
      type: "button",
      class: table ? "ghost small" : "",
      "data-replay": table || "all",
      onclick: async () => {
        const yes = await shell.confirm({
          title: table ? `Replay raw.${table}?` : "Replay every raw table?",
          text: "The quarantined rows and refused files are judged again by the contracts this server loaded. Rows that pass now are loaded by the next run; the rest stay where they are.",
          ok: "Replay",
          danger: true,
        });
        if (!yes) return;
        const replayed = await api("/api/quarantine/replay", { method: "POST", body: table ? { table } : {} });
        after(replayed);
      },
    },
    table ? "Replay" : "Replay all",
  );
}

function tablesCard(contracts, shell, after) {
  const sources = contracts.contracts.filter((c) => c.kind === "source");
  const held = (q) => (q?.rows_quarantined || 0) + (q?.files_refused || 0) > 0;
  return h(
    "section",
    { class: "card" },
    h("div", { class: "card-head" }, h("h3", {}, "Per raw table"), sources.some((c) => held(c.quarantine)) ? replayButton(shell, null, after) : null),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "data", "data-table": "quarantine-tables" },
        h("thead", {}, h("tr", {}, ["raw table", "contract", "files", "refused", "rows read", "loaded", "quarantined", "redelivered", "rows set aside by rule", ""].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          sources.map((c) => {
            const q = c.quarantine || {};
            return h(
              "tr",
              { id: c.table, "data-name": c.table, class: window.location.hash === `#${c.table}` ? "target" : "" },
              h("td", {}, `raw.${c.table}`, " ", held(q) ? badge("warn", "held") : badge("fresh", "clear")),
              h("td", { class: "muted" }, c.file),
              h("td", { class: "num" }, whole(q.files)),
              h("td", { class: "num" }, whole(q.files_refused)),
              h("td", { class: "num" }, whole(q.rows_read)),
              h("td", { class: "num" }, whole(q.rows_loaded)),
              h("td", { class: "num", "data-value": q.rows_quarantined ?? 0 }, whole(q.rows_quarantined)),
              h("td", { class: "num" }, whole(q.rows_redelivered)),
              h("td", { class: "clip", title: q.rules || "" }, q.rules || ""),
              h("td", {}, held(q) ? replayButton(shell, c.table, after) : ""),
            );
          }),
        ),
      ),
    ),
  );
}

/** Files shown at once before "show all". */
const FIRST_FILES = 60;

function filesCard(contracts) {
  const all = contracts.quarantine;
  const tables = [...new Set(all.map((f) => f.table))];
  const wanted = decodeURIComponent(window.location.hash.slice(1));
  const pick = h("select", { id: "quarantine-table" }, h("option", { value: "" }, "every raw table"), tables.map((t) => h("option", { value: t, selected: t === wanted }, `raw.${t}`)));
  const refusedOnly = h("input", { type: "checkbox", id: "refused-only" });
  const body = h("div", {});
  const show = (limit) => {
    const files = all.filter((f) => (!pick.value || f.table === pick.value) && (!refusedOnly.checked || f.reason?.startsWith("file refused")));
    const shown = files.slice(0, limit);
    body.replaceChildren(
      files.length
        ? h(
            "div",
            { class: "table-scroll" },
            h(
              "table",
              { class: "data", "data-table": "quarantine-files" },
              h("thead", {}, h("tr", {}, ["raw table", "file", "rows read", "loaded", "quarantined", "redelivered", "reason"].map((t) => h("th", {}, t)))),
              h(
                "tbody",
                {},
                shown.map((f) =>
                  h(
                    "tr",
                    { "data-name": f.table, class: f.reason?.startsWith("file refused") ? "refused" : "" },
                    h("td", {}, f.table),
                    h("td", { class: "mono clip", title: f.file }, f.file),
                    h("td", { class: "num" }, whole(f.rows_read)),
                    h("td", { class: "num" }, whole(f.rows_loaded)),
                    h("td", { class: "num" }, whole(f.rows_quarantined)),
                    h("td", { class: "num" }, whole(f.rows_redelivered)),
                    h("td", { class: "clip", title: f.reason }, f.reason),
                  ),
                ),
              ),
            ),
          )
        : h("p", { class: "muted" }, "Nothing set aside here: every row of every file was loaded."),
      ...(files.length > shown.length ? [h("button", { type: "button", class: "ghost small", onclick: () => show(Infinity) }, `Show all ${files.length} files`)] : []),
    );
  };
  pick.addEventListener("change", () => show(FIRST_FILES));
  refusedOnly.addEventListener("change", () => show(FIRST_FILES));
  show(FIRST_FILES);
  return h(
    "section",
    { class: "card" },
    h("div", { class: "card-head" }, h("h3", {}, "Files with rows set aside or refused"), h("label", { class: "inline" }, pick), h("label", { class: "inline check" }, refusedOnly, "refused files only")),
    body,
  );
}

export async function quarantinePage(main, _params, shell) {
  const head = h("div", { class: "page-head" }, h("h1", {}, "Quarantine"), h("p", { class: "muted" }, "Rows that break a rule of their source's contract are set aside here, never loaded; a file that cannot be read is refused whole."));
  const notice = h("div", { id: "replay-result" });
  const body = h("div", {});
  main.append(head, notice, body);
  const show = async () => {
    const contracts = await api("/api/contracts");
    body.replaceChildren(
      tablesCard(contracts, shell, async (replayed) => {
        notice.replaceChildren(
          h(
            "div",
            { class: "notice" },
            "Replayed: ",
            replayed.map((r, i) => [i ? "; " : "", `raw.${r.table} ${whole(r.rows_released)} rows released, ${whole(r.rows_quarantined)} still held, ${whole(r.files_admitted)} files admitted, ${whole(r.files_refused)} still refused`]),
            ". The next run loads what was released.",
          ),
        );
        await show();
      }),
      filesCard(contracts),
    );
  };
  await show();
  const target = window.location.hash && document.getElementById(decodeURIComponent(window.location.hash.slice(1)));
  if (target) target.scrollIntoView({ block: "center" });
}
