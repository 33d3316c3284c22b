// The platform API as the pages use it. The party token lives in sessionStorage and travels only
// in the Authorization header: never in a URL, a query string or a log line.

const TOKEN_KEY = "gongzhi.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Nothing stored.
  }
}

const unauthorizedListeners = new Set();

/** Called when the platform answers 401 (token revoked or wrong): the page shows sign-in. */
export function onUnauthorized(fn) {
  unauthorizedListeners.add(fn);
}

export function signalUnauthorized() {
  clearToken();
  for (const fn of unauthorizedListeners) fn();
}

// Server time minus local time, from the Date header, so SLA countdowns follow the platform clock
// even when the wall PC's clock drifts.
let clockOffsetMs = 0;

export function serverNow() {
  return Date.now() + clockOffsetMs;
}

function learnClock(response) {
  const date = response.headers.get("Date");
  if (!date) return;
  const server = Date.parse(date);
  if (Number.isNaN(server)) return;
  const offset = server - Date.now();
  // The header has one-second resolution: ignore differences it cannot resolve.
  clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

export function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}`, ...extra } : { ...extra };
}

/** GET/POST JSON under /api; throws ApiError with the platform's message. */
export async function api(path, { method = "GET", body, signal, token } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : authHeaders();
  headers.Accept = "application/json";
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, cache: "no-store", credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  learnClock(response);
  if (response.status === 401 && !token) signalUnauthorized();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      const payload = await response.json();
      const detail = payload.detail ?? payload.error ?? payload.message;
      if (typeof detail === "string") message = detail;
      else if (typeof detail?.message === "string") message = detail.message;
      else if (detail) message = JSON.stringify(detail);
    } catch {
      // Not JSON: keep the status line.
    }
    throw new ApiError(response.status, message);
  }
  if (response.status === 204) return null;
  return response.json();
}

/** Who the token belongs to: {party: "..."}; null when the token is refused. */
export async function whoAmI(token) {
  try {
    return await api("/api/me", { token });
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) return null;
    throw error;
  }
}

export const listTickets = (params = {}) => {
  const query = new URLSearchParams(
    Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const suffix = query.toString();
  return api(`/api/tickets${suffix ? `?${suffix}` : ""}`);
};

export const getTicket = (id) => api(`/api/tickets/${encodeURIComponent(id)}`);

export const postAction = (id, action, note) =>
  api(`/api/tickets/${encodeURIComponent(id)}/actions`, {
    method: "POST", body: note ? { action, note } : { action },
  });
