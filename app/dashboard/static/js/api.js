// Requests to the service: JSON in and out, its error bodies turned into ApiError, and the
// management token. The token lives in sessionStorage only: it is gone when the tab closes,
// other tabs never see it, and no cookie carries it, so no other site can make the browser
// send it (management routes read the Authorization header, never a cookie).

const TOKEN_KEY = "lstm-serve.management-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** The service's `{"error": {"code", "message", "location"}}`, or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, location = []) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.location = location;
  }
}

/**
 * Call the API. `json` is sent as a JSON body; `body` with `contentType` as it is (a File for
 * uploads); `management` adds the token. Answers the parsed JSON, or throws ApiError.
 */
export async function api(path, options = {}) {
  const { method = "GET", json, body, contentType, management = false, signal } = options;
  const headers = { Accept: "application/json" };
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  } else if (contentType) {
    headers["Content-Type"] = contentType;
  }
  const secret = management ? token.get() : null;
  if (secret) headers.Authorization = `Bearer ${secret}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, signal, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", `the server could not be reached: ${error.message}`);
  }
  const text = await response.text();
  const data = parse(text);
  if (!response.ok) throw failure(response, data, text, management && !secret);
  return data;
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function failure(response, data, text, tokenMissing) {
  const error = data && typeof data.error === "object" ? data.error : {};
  let message = error.message || text || response.statusText;
  if (response.status === 401 && tokenMissing) {
    message += " (enter the management token at the top of the page)";
  }
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    message,
    Array.isArray(error.location) ? error.location : [],
  );
}

/** The path and query of a URL the API answered (a page's `next`), on this origin. */
export function samePath(url) {
  const parsed = new URL(url, location.origin);
  return `${parsed.pathname}${parsed.search}`;
}
