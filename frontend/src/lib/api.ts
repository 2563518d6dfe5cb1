/**
 * Small fetch wrapper for the ICHweb JSON API (Django REST framework).
 *
 * - CSRF: Django's token is read from `<meta name="csrf-token" content="…">`
 *   (works with CSRF_COOKIE_HTTPONLY = True) or, failing that, from the
 *   `csrftoken` cookie, and sent as `X-CSRFToken`.
 * - Errors: non-2xx answers become an {@link ApiError} whose `message` is a
 *   readable sentence built from DRF's error JSON.
 */

export type FieldErrors = Record<string, string[]>;

export class ApiError extends Error {
  override readonly name = "ApiError";
  /** HTTP status; 0 for network failures / aborted requests. */
  readonly status: number;
  /** DRF `detail` when present. */
  readonly detail: string | undefined;
  /** Field errors (`{"field": ["msg"]}`), including `non_field_errors`. */
  readonly fieldErrors: FieldErrors;
  /** Parsed response body (JSON value or text), if any. */
  readonly body: unknown;

  constructor(
    status: number,
    message: string,
    options: { detail?: string | undefined; fieldErrors?: FieldErrors; body?: unknown } = {},
  ) {
    super(message);
    this.status = status;
    this.detail = options.detail;
    this.fieldErrors = options.fieldErrors ?? {};
    this.body = options.body;
  }
}

const NON_FIELD_KEYS = new Set(["non_field_errors", "__all__"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Flatten a DRF error value (string, list, nested dict) into messages. */
function flattenMessages(value: unknown, prefix = ""): string[] {
  if (value === null || value === undefined) return [];
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return [prefix + String(value)];
  }
  if (Array.isArray(value)) return value.flatMap((v) => flattenMessages(v, prefix));
  if (isRecord(value)) {
    // DRF ErrorDetail serialised with codes: {"message": "...", "code": "..."}
    if (typeof value["message"] === "string" && Object.keys(value).every((k) => k === "message" || k === "code")) {
      return [prefix + value["message"]];
    }
    return Object.entries(value).flatMap(([k, v]) => flattenMessages(v, `${prefix}${k}: `));
  }
  return [];
}

function humanize(field: string): string {
  const s = field.replace(/_/g, " ");
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const STATUS_TEXT: Record<number, string> = {
  0: "Network error: the server could not be reached.",
  400: "The request was not accepted.",
  401: "You are not logged in (or your session has expired).",
  403: "You do not have permission to do this.",
  404: "Not found.",
  405: "This action is not allowed.",
  413: "The upload is too large for the server.",
  429: "Too many requests; please wait and try again.",
  500: "Server error.",
  502: "The server is unavailable (bad gateway).",
  503: "The server is temporarily unavailable.",
  504: "The server took too long to answer.",
};

/** Fallback message for a status without a usable body. */
export function statusMessage(status: number, statusText = ""): string {
  const known = STATUS_TEXT[status];
  if (known) return status === 0 ? known : `${known} (HTTP ${status})`;
  return `Request failed (HTTP ${status}${statusText ? ` ${statusText}` : ""}).`;
}

/**
 * Build an {@link ApiError} from a status and a (parsed) DRF error body.
 *
 * Handles `{"detail": "..."}`, `{"field": ["msg", ...], "non_field_errors": [...]}`,
 * nested serializer errors, a bare list `["msg"]` and a bare string.
 */
export function parseApiError(status: number, body: unknown, statusText = ""): ApiError {
  let detail: string | undefined;
  const fieldErrors: FieldErrors = {};
  const parts: string[] = [];

  if (isRecord(body)) {
    for (const [key, value] of Object.entries(body)) {
      if (key === "detail" && (typeof value === "string" || Array.isArray(value))) {
        detail = flattenMessages(value).join(" ");
        continue;
      }
      const msgs = flattenMessages(value);
      if (msgs.length === 0) continue;
      fieldErrors[key] = msgs;
    }
    if (detail) parts.push(detail);
    for (const [key, msgs] of Object.entries(fieldErrors)) {
      if (NON_FIELD_KEYS.has(key)) parts.push(msgs.join(" "));
    }
    for (const [key, msgs] of Object.entries(fieldErrors)) {
      if (!NON_FIELD_KEYS.has(key)) parts.push(`${humanize(key)}: ${msgs.join(" ")}`);
    }
  } else if (Array.isArray(body)) {
    const msgs = flattenMessages(body);
    if (msgs.length) {
      fieldErrors["non_field_errors"] = msgs;
      parts.push(msgs.join(" "));
    }
  } else if (typeof body === "string" && body.trim() && body.length < 300 && !/^\s*</.test(body)) {
    // Short plain-text body (not an HTML error page).
    parts.push(body.trim());
  }

  const message = parts.length ? parts.join(" ") : statusMessage(status, statusText);
  return new ApiError(status, message, { detail, fieldErrors, body });
}

/** Parse a response body as JSON when it claims to be JSON, else as text. */
export async function readBody(response: Response): Promise<unknown> {
  const type = response.headers.get("Content-Type") ?? "";
  const text = await response.text().catch(() => "");
  if (!text) return undefined;
  if (type.includes("json") || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** Build an {@link ApiError} from a failed `Response`. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  return parseApiError(response.status, await readBody(response), response.statusText);
}

function readCookie(name: string, cookie: string): string | undefined {
  for (const part of cookie.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/**
 * Django's CSRF token: `<meta name="csrf-token">` first (the cookie may be
 * HttpOnly), then the `csrftoken` cookie. Empty string if neither exists.
 */
export function csrfToken(doc: Document = document): string {
  const meta = doc.querySelector<HTMLMetaElement>('meta[name="csrf-token"]');
  const fromMeta = meta?.content.trim();
  if (fromMeta) return fromMeta;
  return readCookie("csrftoken", doc.cookie) ?? "";
}

export type ApiInit = RequestInit & {
  /** Serialised as the JSON body (sets Content-Type). */
  json?: unknown;
  /** Fetch implementation (tests). */
  fetchImpl?: typeof fetch;
};

/**
 * `fetch` with CSRF header, `Accept: application/json` and same-origin
 * credentials. Resolves with the `Response` when it is 2xx, otherwise rejects
 * with an {@link ApiError} (status 0 on network failure).
 */
export async function apiFetch(url: string, init: ApiInit = {}): Promise<Response> {
  const { json, fetchImpl, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  const token = typeof document === "undefined" ? "" : csrfToken();
  if (token && !headers.has("X-CSRFToken")) headers.set("X-CSRFToken", token);
  if (json !== undefined) {
    headers.set("Content-Type", "application/json");
    rest.body = JSON.stringify(json);
  }
  const doFetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
  let response: Response;
  try {
    response = await doFetch(url, { credentials: "same-origin", ...rest, headers });
  } catch (err) {
    if (rest.signal?.aborted) throw err; // cancelled by the caller: not a network error
    throw new ApiError(0, statusMessage(0), { body: err });
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

/** {@link apiFetch} and parse the JSON answer (`undefined` for 204). */
export async function apiJson<T>(url: string, init: ApiInit = {}): Promise<T> {
  const response = await apiFetch(url, init);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}
