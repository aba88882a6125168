/**
 * api.js — JSON calls to the box, with its error shape turned into readable messages.
 *
 * Also estimates the box's clock from the HTTP `Date` header. Why: a Raspberry Pi with no internet
 * and no RTC may keep the wrong time, and a phone may too; "time left" must be counted on the box's
 * clock, or two students would see different countdowns for the same lecture.
 */

export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 = the box could not be reached)
   * @param {string} code   the server's error.code, or a local one
   * @param {string} message a sentence to show to the person
   */
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

let clockOffsetMs = 0;

function noteServerDate(header, sentAt, receivedAt) {
  if (!header) return;
  const server = Date.parse(header);
  if (Number.isNaN(server)) return;
  // The header has 1 s resolution: only correct clearly wrong clocks, never jitter on small ones.
  const offset = server + 500 - (sentAt + receivedAt) / 2;
  clockOffsetMs = Math.abs(offset) > 5000 ? offset : 0;
}

/** Now, on the box's clock (ms since epoch). */
export function boxNow() {
  return Date.now() + clockOffsetMs;
}

/**
 * Call the box. Resolves with the parsed JSON body (or null), rejects with ApiError.
 * @param {string} method
 * @param {string} path
 * @param {object} [body]
 */
export async function api(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const sentAt = Date.now();
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(
      0,
      "network",
      "Can't reach the classroom box. Check that you are on the classroom Wi-Fi and try again.",
    );
  }
  noteServerDate(res.headers.get("Date"), sentAt, Date.now());
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const message = typeof err.message === "string" && err.message
      ? err.message
      : `The box answered with an error (${res.status}).`;
    throw new ApiError(res.status, err.code || `http_${res.status}`, message);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body);
// Every write is JSON (the box's CSRF rule), a DELETE too, even with nothing to say.
export const del = (path) => api("DELETE", path, {});
