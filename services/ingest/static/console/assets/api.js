// The public API, called with the user's token. The token lives in sessionStorage (this tab only, gone when it closes).

const KEY = "chronohook.console.token";
export const ROOT = location.pathname.slice(0, location.pathname.indexOf("/console"));

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value.trim());
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const said = body && typeof body === "object" ? body.message || body.error || body.detail : null;
    super(`${status}: ${typeof said === "string" ? said : "the API refused the request"}`);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/** Call the API: `path` is a path (or one of its own absolute links, kept to this origin). */
export async function call(method, path, body) {
  let url = path;
  if (/^https?:/.test(path)) {
    const link = new URL(path);
    url = link.pathname + link.search;
  } else {
    url = ROOT + path;
  }
  const headers = {Authorization: `Bearer ${token()}`, Accept: "application/json"};
  const init = {method, headers, cache: "no-store", credentials: "omit", redirect: "error"};
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const raw = await response.text();
  let data = null;
  try {
    data = raw ? JSON.parse(raw) : null;
  } catch {
    data = raw;
  }
  if (response.status === 401) onUnauthorized();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const patch = (path, body) => call("PATCH", path, body);
export const put = (path, body) => call("PUT", path, body);
export const del = (path) => call("DELETE", path);

/** A query string from the given (non-empty) values. */
export function query(values) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== null && v !== undefined && v !== "") params.set(k, v);
  const s = params.toString();
  return s ? `?${s}` : "";
}

export const enc = encodeURIComponent;
