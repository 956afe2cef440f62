// A model's page: what it is, its SQL as written and as run, its columns and
// contract with the last `stride test`, its versions (each linked to the run that
// made it), its first rows at any version (time travel in the browser), and what
// changed between any two versions.

import { ago, api, badge, h, num, when, whole } from "./dom.js";
import { dataTable } from "./charts.js";
import { comparisonView } from "./compare.js";

function facts(model) {
  const fact = (label, value) => (value === null || value === undefined || value === "" ? null : h("div", { class: "fact" }, h("dt", {}, label), h("dd", {}, value)));
  const links = (names, prefix = "") => (names.length ? names.map((n, i) => [i ? ", " : "", prefix ? h("a", { href: `/quarantine#${n}` }, `${prefix}${n}`) : h("a", { href: `/models/${n}` }, n)]) : "none");
  return h(
    "dl",
    { class: "facts" },
    fact("file", `queries/${model.file}`),
    fact("materialization", model.materialization),
    fact("strategy", model.strategy),
    fact("unique key", model.unique_key.join(", ")),
    fact("published to DuckDB", model.published ? "yes" : "no"),
    fact("latest version", model.latest_version),
    fact("reads", [links(model.refs), model.sources.length ? [model.refs.length ? ", " : "", links(model.sources, "raw.")] : ""]),
    fact("read by", links(model.readers)),
    fact("last run", model.last_run_id ? h("a", { href: `/runs/${model.last_run_id}` }, `${model.last_run_id} (${model.last_run_status})`) : "none"),
  );
}

function sqlTabs(model) {
  const tabs = [
    ["as written", model.sql],
    ["rendered (full)", model.rendered.full],
  ];
  if (model.rendered.incremental) tabs.push(["rendered (incremental)", model.rendered.incremental]);
  const code = h("pre", { class: "sql", id: "model-sql" });
  const buttons = tabs.map(([label, text], i) =>
    h(
      "button",
      {
        type: "button",
        class: "ghost small",
        "data-tab": label,
        onclick: () => {
          code.textContent = text.trim();
          buttons.forEach((b, j) => b.classList.toggle("active", i === j));
        },
      },
      label,
    ),
  );
  code.textContent = tabs[0][1].trim();
  buttons[0].classList.add("active");
  return h("section", { class: "card" }, h("div", { class: "card-head" }, h("h3", {}, "SQL"), h("div", { class: "switch" }, buttons)), code);
}

function columnsCard(model) {
  const contract = new Map((model.contract?.columns || []).map((c) => [c.name, c]));
  const names = model.columns.length ? model.columns.map((c) => c.name) : [...contract.keys()];
  const actual = new Map(model.columns.map((c) => [c.name, c]));
  return h(
    "section",
    { class: "card" },
    h("h3", {}, "Columns"),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "data", "data-table": "columns" },
        h("thead", {}, h("tr", {}, ["column", "type in the table", "type in the contract", "nullable"].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          names.map((name) =>
            h(
              "tr",
              {},
              h("td", {}, name),
              h("td", { class: "mono" }, actual.get(name)?.type || ""),
              h("td", { class: "mono" }, contract.get(name)?.type || ""),
              h("td", {}, contract.has(name) ? (contract.get(name).nullable ? "yes" : "no") : actual.get(name)?.nullable ? "yes" : "no"),
            ),
          ),
        ),
      ),
    ),
  );
}

function contractCard(model, shell, rerender) {
  const card = h("section", { class: "card", id: "contract" });
  if (!model.contract) {
    card.append(h("h3", {}, "Contract"), h("p", { class: "muted" }, "No data contract guards this model (add data_contracts/", model.name, ".toml)."));
    return card;
  }
  const last = model.last_test;
  const outcome = new Map((last?.outcomes || []).map((o) => [o.rule, o]));
  const testButton = h(
    "button",
    {
      type: "button",
      class: "ghost small",
      id: "run-tests",
      onclick: async () => {
        testButton.disabled = true;
        testButton.textContent = "Testing…";
        try {
          await api("/api/tests", { method: "POST", body: { select: model.name } });
          rerender();
        } catch (error) {
          shell.showError(card, error);
          testButton.disabled = false;
          testButton.textContent = "Run stride test";
        }
      },
    },
    "Run stride test",
  );
  card.append(
    h("div", { class: "card-head" }, h("h3", {}, `Contract · data_contracts/${model.contract.file}`), testButton),
    h(
      "p",
      { class: "muted", id: "last-test" },
      last ? ["Last stride test ", h("span", { title: when(last.tested_at) }, ago(last.tested_at)), `: ${last.passed} passed, ${last.warned} warned, ${last.failed} failed.`] : "Never tested with stride test; every run checks the contract before it commits.",
    ),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "data", "data-table": "rules" },
        h("thead", {}, h("tr", {}, ["rule", "kind", "severity", "checks", "last test", "failing rows"].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          model.contract.rules.map((r) => {
            const o = outcome.get(r.name);
            return h(
              "tr",
              { "data-rule": r.name },
              h("td", {}, r.name),
              h("td", {}, r.kind),
              h("td", {}, r.severity),
              h("td", { class: "mono clip", title: r.checks }, r.checks),
              h("td", {}, o ? badge(o.status.toLowerCase(), o.status) : ""),
              h("td", { class: "num", title: o?.detail || "" }, o ? whole(o.failing_rows) : ""),
            );
          }),
        ),
      ),
    ),
  );
  return card;
}

function versionsCard(versions, choose) {
  return h(
    "section",
    { class: "card" },
    h("h3", {}, "Versions"),
    h(
      "div",
      { class: "table-scroll" },
      h(
        "table",
        { class: "data", "data-table": "versions" },
        h("thead", {}, h("tr", {}, ["version", "committed", "operation", "rows added", "rows removed", "rows", "batches", "run", ""].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          [...versions].reverse().map((v) =>
            h(
              "tr",
              { "data-version": v.version },
              h("td", { class: "num" }, v.version),
              h("td", { title: when(v.time) }, v.time ? when(v.time) : ""),
              h("td", {}, v.operation),
              h("td", { class: "num" }, num(v.rows_added)),
              h("td", { class: "num" }, num(v.rows_removed)),
              h("td", { class: "num" }, num(v.rows)),
              h("td", { class: "clip", title: v.batches || "" }, v.batches || ""),
              h("td", {}, v.run_id ? h("a", { href: `/runs/${v.run_id}` }, v.run_id) : ""),
              h("td", {}, h("button", { type: "button", class: "ghost small", onclick: () => choose(v.version) }, "rows")),
            ),
          ),
        ),
      ),
    ),
  );
}

function rowsCard(model, versions) {
  const card = h("section", { class: "card", id: "time-travel" });
  const picker = h(
    "select",
    { id: "version" },
    [...versions].reverse().map((v) => h("option", { value: v.version }, `version ${v.version}${v.time ? ` · ${when(v.time)}` : ""}`)),
  );
  const body = h("div", {});
  const load = async (version) => {
    card.dataset.loading = "true";
    const query = version === null ? "" : `version=${version}&`;
    const answer = await api(`/api/models/${encodeURIComponent(model.name)}/rows?${query}limit=20`);
    const command = `stride query${answer.version === null ? "" : ` --version ${answer.version}`} "${answer.sql}"`;
    body.replaceChildren(
      h("p", { class: "muted" }, `The first ${answer.rows.length} rows${answer.version === null ? "" : ` at version ${answer.version}`}, as `, h("code", { id: "rows-command" }, command), " prints them."),
      dataTable(answer.columns, answer.rows, { key: "rows" }),
    );
    card.dataset.version = answer.version ?? "";
    card.dataset.loading = "false";
  };
  picker.addEventListener("change", () => load(Number(picker.value)));
  card.append(h("div", { class: "card-head" }, h("h3", {}, "Rows"), versions.length ? h("label", { class: "inline" }, "Time travel to ", picker) : h("span", { class: "muted" }, "a view: its rows now")), body);
  return {
    card,
    load,
    choose: (version) => {
      picker.value = String(version);
      card.scrollIntoView({ behavior: "instant", block: "start" });
      return load(version);
    },
  };
}

function diffCard(model, versions) {
  const card = h("section", { class: "card", id: "diff" });
  const picker = (id, chosen) =>
    h(
      "select",
      { id },
      [...versions].reverse().map((v) => h("option", { value: v.version, selected: v.version === chosen }, `version ${v.version}`)),
    );
  const latest = versions[versions.length - 1].version;
  const from = picker("diff-from", Math.max(0, latest - 1));
  const to = picker("diff-to", latest);
  const body = h("div", {}, h("p", { class: "muted" }, "Choose two versions and compare them."));
  const compare = async () => {
    card.dataset.loading = "true";
    button.disabled = true;
    try {
      const diff = await api(`/api/models/${encodeURIComponent(model.name)}/diff?from=${from.value}&to=${to.value}&examples=10`);
      const command = `stride diff ${model.name} --from ${diff.from_version} --to ${diff.to_version}`;
      body.replaceChildren(...comparisonView(diff.comparison, `v${diff.from_version}`, `v${diff.to_version}`), h("p", { class: "muted" }, "The same as ", h("code", { id: "diff-command" }, command), " prints."));
      card.dataset.from = diff.from_version;
      card.dataset.to = diff.to_version;
    } catch (error) {
      body.replaceChildren(h("p", { class: "error-box" }, error.message));
    } finally {
      button.disabled = false;
      card.dataset.loading = "false";
    }
  };
  const button = h("button", { type: "button", id: "diff-run", onclick: compare }, "Compare");
  card.append(h("div", { class: "card-head" }, h("h3", {}, "Compare versions"), h("div", { class: "inline" }, h("label", { class: "inline" }, "from ", from), h("label", { class: "inline" }, " to ", to), button)), body);
  return card;
}

export async function modelPage(main, [name], shell) {
  const model = await api(`/api/models/${encodeURIComponent(name)}`);
  const versions = model.latest_version === null ? [] : await api(`/api/models/${encodeURIComponent(name)}/versions`);
  main.append(
    h("div", { class: "page-head" }, h("h1", {}, model.name, " ", badge(model.state)), facts(model)),
  );
  const rows = rowsCard(model, versions);
  main.append(
    h("div", { class: "grid-2" }, sqlTabs(model), h("div", { class: "stack" }, columnsCard(model), contractCard(model, shell, () => shell.navigate(window.location.pathname)))),
  );
  if (versions.length) main.append(versionsCard(versions, rows.choose));
  if (versions.length > 1) main.append(diffCard(model, versions));
  main.append(rows.card);
  if (model.latest_version !== null || model.materialization === "view") {
    await rows.load(model.latest_version === null ? null : model.latest_version);
  }
}
