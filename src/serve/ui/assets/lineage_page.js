// The lineage page: the graph, coloured by state, with a legend.

import { api, badge, h } from "./dom.js";
import { lineageGraph } from "./lineage.js";

const STATES = [
  ["fresh", "up to date with every raw file landed"],
  ["stale", "raw files it reads have landed that no run has checked"],
  ["failed", "the latest run that ran it failed there or upstream"],
  ["view", "a view: computed when read"],
  ["missing", "never built"],
];

export async function lineagePage(main, _params, shell) {
  const graph = await api("/api/lineage");
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Lineage"),
      h("p", { class: "muted" }, `${graph.nodes.length} nodes, ${graph.edges.length} edges. Point at a node to light what it reads and what reads it; click to open it.`),
    ),
    h("div", { class: "legend states" }, STATES.map(([state, text]) => h("span", { class: "legend-item", title: text }, badge(state)))),
    h(
      "section",
      { class: "card" },
      lineageGraph(graph, (node) =>
        shell.navigate(node.kind === "source" ? `/quarantine#${encodeURIComponent(node.name)}` : `/models/${encodeURIComponent(node.id)}`),
      ),
    ),
  );
}
