// The shell of stride's pages: the top bar, the router (links change the page
// without reloading it), the token prompt, and the run actions with their live
// progress. Each page lives in its own module and renders into <main>.

import { ApiError, api, badge, h, token } from "./dom.js";
import { overviewPage } from "./overview.js";
import { lineagePage } from "./lineage_page.js";
import { runPage, runsPage } from "./runs.js";
import { modelPage } from "./model.js";
import { martsPage } from "./marts.js";
import { quarantinePage } from "./quarantine.js";

const ROUTES = [
  [/^\/$/, overviewPage, "Overview"],
  [/^\/lineage$/, lineagePage, "Lineage"],
  [/^\/runs$/, runsPage, "Runs"],
  [/^\/runs\/([^/]+)$/, runPage, "Run"],
  [/^\/models\/([^/]+)$/, modelPage, "Model"],
  [/^\/marts$/, martsPage, "Marts"],
  [/^\/quarantine$/, quarantinePage, "Quarantine"],
];

const NAV = [
  ["/", "Overview"],
  ["/lineage", "Lineage"],
  ["/runs", "Runs"],
  ["/marts", "Marts"],
  ["/quarantine", "Quarantine"],
];

/** Timers and pollers of the page shown; stopped when another page opens. */
let leaving = [];

/** What every page gets: where to render, how to move, and how to poll. */
const shell = {
  navigate(path) {
    window.history.pushState({}, "", path);
    render();
  },
  /** Calls `tick` every `ms` until the page is left; returns what stops it sooner. */
  every(ms, tick) {
    const id = window.setInterval(tick, ms);
    const stop = () => window.clearInterval(id);
    leaving.push(stop);
    return stop;
  },
  onLeave(stop) {
    leaving.push(stop);
  },
  followRun,
  confirm,
  showError,
};

function topBar() {
  const path = window.location.pathname;
  const current = (href) => (href === "/" ? path === "/" : path.startsWith(href));
  return h(
    "header",
    { class: "top" },
    h("a", { href: "/", class: "brand" }, h("span", { class: "logo" }, "≋"), "stride"),
    h(
      "nav",
      {},
      NAV.map(([href, label]) => h("a", { href, class: current(href) ? "active" : "" }, label)),
    ),
    h(
      "div",
      { class: "actions" },
      h("a", { id: "server-state", class: "pill", href: "/runs" }, "…"),
      h("button", { id: "run-now", type: "button", onclick: () => startRun({}) }, "Run now"),
      h("button", { id: "run-options", type: "button", class: "ghost", onclick: runDialog }, "Run…"),
    ),
  );
}

/** Shows the page the address names. */
async function render() {
  leaving.forEach((stop) => stop());
  leaving = [];
  const path = window.location.pathname;
  let [page, title, params] = [notFound, "Not found", []];
  for (const [pattern, routePage, routeTitle] of ROUTES) {
    const match = path.match(pattern);
    if (match) {
      [page, title, params] = [routePage, routeTitle, match.slice(1).map(decodeURIComponent)];
      break;
    }
  }
  const main = h("main", { id: "page", "data-page": title.toLowerCase(), "data-ready": "false" });
  document.body.replaceChildren(topBar(), main, liveBox);
  document.title = `${params[0] ? `${params[0]} · ` : ""}${title} · stride`;
  serverState();
  try {
    await page(main, params, shell);
  } catch (error) {
    showError(main, error);
  }
  main.dataset.ready = "true";
  // For load-time measurements: when this page had its data on screen.
  window.performance.mark(`stride:ready:${title.toLowerCase()}`);
}

function notFound(main) {
  main.append(h("h1", {}, "Not found"), h("p", {}, "No page here. ", h("a", { href: "/" }, "Back to the overview.")));
}

/** An error in place of (or above) the page's content. */
function showError(where, error) {
  if (error instanceof ApiError && error.status === 401) {
    askToken();
  }
  where.prepend(h("div", { class: "error-box", role: "alert" }, error.message || String(error)));
}

/** A modal question; resolves to whether the person said yes. */
function confirm({ title, text, ok = "Continue", danger = false }) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { id: "confirm", class: "dialog" },
      h("h2", {}, title),
      h("p", {}, text),
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", class: "ghost", id: "confirm-cancel", onclick: () => dialog.close("no") }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger" : "", id: "confirm-ok", onclick: () => dialog.close("yes") }, ok),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks for the server's token once an API call said it needs one. */
function askToken() {
  if (document.getElementById("token-dialog")) return;
  const input = h("input", { id: "token-input", type: "password", autocomplete: "off", placeholder: "STRIDE_TOKEN" });
  const dialog = h(
    "dialog",
    { id: "token-dialog", class: "dialog" },
    h("h2", {}, "This server needs its token"),
    h("p", {}, "stride serve was started with --token (or STRIDE_TOKEN). It is kept in this browser only."),
    h(
      "form",
      {
        method: "dialog",
        onsubmit: () => {
          token.set(input.value.trim());
          window.location.reload();
        },
      },
      input,
      h("div", { class: "buttons" }, h("button", { type: "submit", id: "token-save" }, "Use token")),
    ),
  );
  document.body.append(dialog);
  dialog.showModal();
}

/** The run dialog: a selection and full refresh; full refresh asks again. */
function runDialog() {
  const select = h("input", { id: "run-select", type: "text", placeholder: "all models, or e.g. fct_orders+ stg_orders", autocomplete: "off" });
  const full = h("input", { id: "run-full-refresh", type: "checkbox" });
  const dialog = h(
    "dialog",
    { id: "run-dialog", class: "dialog" },
    h("h2", {}, "Run the models"),
    h("label", {}, "Selection (dbt syntax: model, +model, model+)", select),
    h("label", { class: "check" }, full, "Full refresh: rebuild from all raw data"),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "button", class: "ghost", onclick: () => dialog.close() }, "Cancel"),
      h(
        "button",
        {
          type: "button",
          id: "run-submit",
          onclick: async () => {
            const body = {};
            if (select.value.trim()) body.select = select.value.trim();
            if (full.checked) body.full_refresh = true;
            dialog.close();
            if (body.full_refresh) {
              const yes = await confirm({
                title: "Full refresh?",
                text: `Every ${body.select ? "selected model" : "model"} is rebuilt from all raw data. Its current version stays readable through time travel.`,
                ok: "Rebuild",
                danger: true,
              });
              if (!yes) return;
            }
            startRun(body);
          },
        },
        "Start run",
      ),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  select.focus();
}

/** The box that follows a run started here until it ends. */
const liveBox = h("aside", { id: "live-run", class: "live hidden", "aria-live": "polite" });
let following = null;

async function startRun(body) {
  try {
    const queued = await api("/api/runs", { method: "POST", body });
    followRun(queued.run_id);
  } catch (error) {
    liveBox.replaceChildren(h("div", { class: "error-box" }, error.message));
    liveBox.classList.remove("hidden");
  }
}

/** Polls a run every second and shows how far it is, until it ends. */
function followRun(runId) {
  if (following) window.clearInterval(following);
  liveBox.classList.remove("hidden");
  const tick = async () => {
    let record;
    try {
      record = await api(`/api/runs/${encodeURIComponent(runId)}`);
    } catch (error) {
      liveBox.replaceChildren(h("div", { class: "error-box" }, error.message));
      return;
    }
    const planned = (record.planned || []).length;
    const done = (record.models || []).filter((m) => m.action !== "running").length;
    const final = !["queued", "started"].includes(record.status);
    const step =
      record.status === "queued"
        ? "waiting its turn"
        : final
          ? record.error || `${done} models`
          : planned
            ? `${done} of ${planned} models`
            : "checking raw files";
    const share = final ? 100 : planned ? Math.round((done / planned) * 100) : 3;
    liveBox.dataset.runId = record.run_id;
    liveBox.dataset.status = record.status;
    liveBox.replaceChildren(
      h("div", { class: "live-head" }, h("a", { href: `/runs/${record.run_id}` }, `run ${record.run_id}`), badge(record.status)),
      h("div", { class: "progress" }, h("div", { class: `progress-bar status-${record.status}`, style: `width:${share}%` })),
      h("div", { class: "live-step" }, step),
      ...(final ? [h("button", { type: "button", class: "ghost small", onclick: () => liveBox.classList.add("hidden") }, "Close")] : []),
    );
    if (final) {
      window.clearInterval(following);
      following = null;
      document.dispatchEvent(new CustomEvent("stride:run-ended", { detail: record }));
    }
  };
  following = window.setInterval(tick, 1000);
  tick();
}

/** The pill in the top bar: idle, or the run going. */
async function serverState() {
  const pill = document.getElementById("server-state");
  if (!pill) return;
  try {
    const health = await fetch("/api/health").then((r) => r.json());
    const running = health.running;
    pill.replaceChildren(
      running ? badge("started", "running") : badge(health.status === "ok" ? "idle" : health.status),
      health.queued ? " +1 queued" : "",
    );
    pill.href = running ? `/runs/${running.run_id}` : "/runs";
  } catch (_) {
    pill.replaceChildren(badge("failure", "server unreachable"));
  }
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || link.target || link.hasAttribute("download") || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin || url.pathname.startsWith("/api/")) return;
  event.preventDefault();
  shell.navigate(url.pathname + url.search + url.hash);
});
window.addEventListener("popstate", render);

render();
window.setInterval(serverState, 3000);
