// The lineage graph: sources → staging → intermediate → marts, laid out in layers
// (a node's layer is the longest path from a source to it), the order within a
// layer settled by barycentre sweeps so edges cross little. Pointing at a node
// lights what it reads and what reads it; a click opens its page.

import { h, s } from "./dom.js";

const NODE_W = 168;
const NODE_H = 28;
const COL_GAP = 44;
const ROW_GAP = 14;

/** Layer and position of every node: {id: {layer, index, x, y}}, and the size. */
export function layout(nodes, edges) {
  const parents = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) if (parents.has(e.to) && parents.has(e.from)) parents.get(e.to).push(e.from);
  const layerOf = new Map();
  const visit = (id, trail = new Set()) => {
    if (layerOf.has(id)) return layerOf.get(id);
    if (trail.has(id)) return 0; // a cycle cannot happen in a valid project; stay finite
    trail.add(id);
    const ps = parents.get(id) || [];
    const layer = ps.length === 0 ? 0 : 1 + Math.max(...ps.map((p) => visit(p, trail)));
    layerOf.set(id, layer);
    return layer;
  };
  nodes.forEach((n) => visit(n.id));
  const children = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) if (children.has(e.from) && children.has(e.to)) children.get(e.from).push(e.to);
  // A model that reads no other node (a view over a macro, say) sits just before
  // its first reader, not among the sources.
  for (const n of nodes) {
    const readers = children.get(n.id);
    if (n.kind !== "source" && (parents.get(n.id) || []).length === 0 && readers.length) {
      layerOf.set(n.id, Math.max(1, Math.min(...readers.map((c) => layerOf.get(c))) - 1));
    }
  }
  const layers = [];
  for (const n of nodes) (layers[layerOf.get(n.id)] ||= []).push(n.id);
  const position = new Map();
  const reindex = () => layers.forEach((ids) => ids.forEach((id, i) => position.set(id, i)));
  reindex();
  const centre = (ids, of) => {
    const ps = ids.flatMap((id) => of.get(id) || []).map((p) => position.get(p));
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : null;
  };
  const sweep = (order, of) => {
    for (const l of order) {
      const ids = layers[l];
      if (!ids) continue;
      const keyed = ids.map((id, i) => ({ id, key: centre([id], of) ?? i }));
      keyed.sort((a, b) => a.key - b.key);
      layers[l] = keyed.map((k) => k.id);
      layers[l].forEach((id, i) => position.set(id, i));
    }
  };
  const down = layers.map((_, i) => i).slice(1);
  const up = layers.map((_, i) => i).reverse().slice(1);
  for (let round = 0; round < 6; round += 1) {
    sweep(down, parents);
    sweep(up, children);
  }
  const tallest = Math.max(...layers.map((ids) => (ids ? ids.length : 0)));
  const height = tallest * (NODE_H + ROW_GAP) + ROW_GAP;
  const placed = {};
  layers.forEach((ids, l) => {
    if (!ids) return;
    const offset = (height - ids.length * (NODE_H + ROW_GAP)) / 2;
    ids.forEach((id, i) => {
      placed[id] = { layer: l, index: i, x: 12 + l * (NODE_W + COL_GAP), y: offset + ROW_GAP / 2 + i * (NODE_H + ROW_GAP) };
    });
  });
  const width = 24 + layers.length * NODE_W + (layers.length - 1) * COL_GAP;
  return { placed, width, height: Math.max(height, NODE_H + 2 * ROW_GAP), layers };
}

/** Every node reachable from `id` along `next` (not `id` itself). */
function reach(id, next) {
  const seen = new Set();
  const stack = [...(next.get(id) || [])];
  while (stack.length) {
    const n = stack.pop();
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push(...(next.get(n) || []));
  }
  return seen;
}

/** A layer's name: the folders its models are in, the most common first. */
function layerName(ids, byId) {
  const counts = new Map();
  for (const id of ids || []) {
    const node = byId.get(id);
    const folder = node.kind === "source" ? "sources" : (node.file || "").split("/")[0] || "models";
    counts.set(folder, (counts.get(folder) || 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([folder]) => folder)
    .join(" · ");
}

/** The graph as an SVG, with `open(node)` called on a click. */
export function lineageGraph(graph, open) {
  const { nodes, edges } = graph;
  const { placed, width, height, layers } = layout(nodes, edges);
  const ups = new Map(nodes.map((n) => [n.id, []]));
  const downs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    ups.get(e.to)?.push(e.from);
    downs.get(e.from)?.push(e.to);
  }
  const top = 22;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height + top}`,
    class: "lineage",
    // Shrinks to the page down to 75%, then scrolls: text stays readable.
    style: `width:100%;height:auto;max-width:${width}px;min-width:${Math.round(width * 0.75)}px`,
    role: "img",
    "aria-label": "lineage",
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  layers.forEach((ids, l) => {
    svg.append(s("text", { x: 12 + l * (NODE_W + COL_GAP), y: 14, class: "layer-name" }, layerName(ids, byId)));
  });
  const edgeEls = edges
    .filter((e) => placed[e.from] && placed[e.to])
    .map((e) => {
      const a = placed[e.from];
      const b = placed[e.to];
      const x1 = a.x + NODE_W;
      const y1 = top + a.y + NODE_H / 2;
      const x2 = b.x;
      const y2 = top + b.y + NODE_H / 2;
      const bend = Math.max(30, (x2 - x1) / 2);
      const path = s("path", {
        d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`,
        class: "edge",
        "data-from": e.from,
        "data-to": e.to,
      });
      svg.append(path);
      return path;
    });
  const nodeEls = nodes.map((n) => {
    const p = placed[n.id];
    const label = n.name.length > 23 ? `${n.name.slice(0, 22)}…` : n.name;
    const kind = n.kind === "source" ? "raw" : n.materialization;
    const g = s(
      "g",
      {
        class: `node state-${n.state} kind-${n.kind}`,
        transform: `translate(${p.x},${top + p.y})`,
        tabindex: 0,
        role: "link",
        "data-id": n.id,
        "data-state": n.state,
      },
      s("title", {}, `${n.id} · ${kind} · ${n.state}`),
      s("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
      s("circle", { cx: 13, cy: NODE_H / 2, r: 4.5, class: "dot" }),
      s("text", { x: 24, y: NODE_H / 2 + 4, class: "name" }, label),
      // A long name leaves no room for the kind; the tooltip still says it.
      label.length > 19 ? null : s("text", { x: NODE_W - 7, y: NODE_H / 2 + 4, class: "kind", "text-anchor": "end" }, kind === "incremental" ? "incr" : kind === "table" ? "" : kind),
    );
    const light = () => {
      const before = reach(n.id, ups);
      const after = reach(n.id, downs);
      svg.classList.add("focused");
      nodeEls.forEach((el) => {
        const id = el.dataset.id;
        el.classList.toggle("selected", id === n.id);
        el.classList.toggle("upstream", before.has(id));
        el.classList.toggle("downstream", after.has(id));
      });
      edgeEls.forEach((el) => {
        const { from, to } = el.dataset;
        el.classList.toggle("upstream", before.has(from) && (to === n.id || before.has(to)));
        el.classList.toggle("downstream", after.has(to) && (from === n.id || after.has(from)));
      });
    };
    const dark = () => {
      svg.classList.remove("focused");
      nodeEls.forEach((el) => el.classList.remove("selected", "upstream", "downstream"));
      edgeEls.forEach((el) => el.classList.remove("upstream", "downstream"));
    };
    g.addEventListener("mouseenter", light);
    g.addEventListener("focus", light);
    g.addEventListener("mouseleave", dark);
    g.addEventListener("blur", dark);
    g.addEventListener("click", () => open(n));
    g.addEventListener("keydown", (event) => {
      if (event.key === "Enter") open(n);
    });
    svg.append(g);
    return g;
  });
  return h("div", { class: "lineage-scroll" }, svg);
}
