// Small helpers every page uses: building elements without HTML strings (so no
// text from the lake is ever parsed as markup), formatting, and the API client.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "style") {
      // Through the CSSOM: the page's Content-Security-Policy refuses style attributes.
      element.style.cssText = value;
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** An HTML element: h("a", {href: "/runs"}, "Runs"). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** A number for people: 12,345.67; text and nulls as they are. */
export function num(value) {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  return Number.isFinite(n) ? numberFormat.format(n) : String(value);
}

/** An amount with exactly `digits` decimals (a decimal column's scale): 1,234.50. */
export function fixed(value, digits) {
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A count or an amount rounded to units, for axes and cards. */
export function whole(value) {
  const n = Number(value);
  return Number.isFinite(n) ? integerFormat.format(n) : "";
}

/** A short amount for axis labels: 1.2k, 3.4M. */
export function compact(value) {
  const n = Number(value);
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(2)}`;
}

/** Seconds as "850 ms", "12.3 s", "4 min 05 s", "2 h 10 min". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60);
    return `${m} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s`;
  }
  const hours = Math.floor(seconds / 3600);
  if (hours < 48) return `${hours} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.round(hours / 24)} days`;
}

/** How long ago an instant was: "3 min ago". */
export function ago(instant) {
  if (!instant) return "never";
  const seconds = (Date.now() - new Date(instant).getTime()) / 1000;
  if (seconds < 0) return `in ${duration(-seconds)}`;
  if (seconds < 5) return "just now";
  return `${duration(seconds).replace(/ \d+ (s|min)$/, "")} ago`;
}

/** An instant as "2026-12-01 15:34:13 UTC". */
export function when(instant) {
  if (!instant) return "";
  const d = new Date(instant);
  return Number.isNaN(d.getTime()) ? String(instant) : `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

/** Seconds between two instants (now when the end is missing). */
export function between(start, end) {
  if (!start) return null;
  const to = end ? new Date(end) : new Date();
  return (to.getTime() - new Date(start).getTime()) / 1000;
}

/** A coloured word for a state or status. */
export function badge(state, text) {
  return h("span", { class: `badge state-${String(state).replace(/\s+/g, "-")}` }, text || state);
}

/** The token this browser keeps for a server that asks for one. */
export const token = {
  get: () => window.localStorage.getItem("stride.token") || "",
  set: (value) => window.localStorage.setItem("stride.token", value),
  clear: () => window.localStorage.removeItem("stride.token"),
};

/** An answer the API refused; `status` is the HTTP status. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls the API: JSON in and out (text for `as: "text"`), with the token. */
export async function api(path, { method = "GET", body, as = "json" } = {}) {
  const headers = {};
  if (token.get()) headers.Authorization = `Bearer ${token.get()}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) {
      // The answer had no JSON body; the status says enough.
    }
    throw new ApiError(response.status, message);
  }
  return as === "text" ? response.text() : response.json();
}
