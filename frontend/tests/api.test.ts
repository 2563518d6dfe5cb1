import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, apiFetch, apiJson, csrfToken, parseApiError } from "../src/lib/api";

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

afterEach(() => {
  document.head.replaceChildren();
  document.cookie = "csrftoken=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/";
});

describe("parseApiError", () => {
  it("uses DRF's detail", () => {
    const err = parseApiError(403, { detail: "You do not have permission to perform this action." });
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toBeInstanceOf(Error);
    expect(err.status).toBe(403);
    expect(err.detail).toBe("You do not have permission to perform this action.");
    expect(err.message).toBe("You do not have permission to perform this action.");
    expect(err.fieldErrors).toEqual({});
  });

  it("turns field errors into a readable message", () => {
    const err = parseApiError(400, {
      files: ["No files were submitted.", "Too many files."],
      series_uid: ["This field may not be blank."],
      non_field_errors: ["The archive is corrupt."],
    });
    expect(err.fieldErrors).toEqual({
      files: ["No files were submitted.", "Too many files."],
      series_uid: ["This field may not be blank."],
      non_field_errors: ["The archive is corrupt."],
    });
    expect(err.detail).toBeUndefined();
    expect(err.message).toBe(
      "The archive is corrupt. Files: No files were submitted. Too many files. Series uid: This field may not be blank.",
    );
  });

  it("flattens nested serializer errors and bare lists", () => {
    const nested = parseApiError(400, { label: { slice: ["Out of range."] } });
    expect(nested.fieldErrors).toEqual({ label: ["slice: Out of range."] });
    expect(nested.message).toBe("Label: slice: Out of range.");

    const list = parseApiError(400, ["Something is wrong."]);
    expect(list.message).toBe("Something is wrong.");
    expect(list.fieldErrors).toEqual({ non_field_errors: ["Something is wrong."] });
  });

  it("falls back to the status for HTML or empty bodies", () => {
    expect(parseApiError(403, "<!DOCTYPE html><h1>CSRF verification failed</h1>").message).toBe(
      "You do not have permission to do this. (HTTP 403)",
    );
    expect(parseApiError(500, undefined).message).toBe("Server error. (HTTP 500)");
    expect(parseApiError(418, undefined, "I'm a teapot").message).toBe("Request failed (HTTP 418 I'm a teapot).");
    expect(parseApiError(0, undefined).message).toMatch(/network error/i);
  });
});

describe("csrfToken", () => {
  it("prefers the meta tag", () => {
    document.cookie = "csrftoken=from-cookie; path=/";
    const meta = document.createElement("meta");
    meta.name = "csrf-token";
    meta.content = "from-meta";
    document.head.append(meta);
    expect(csrfToken()).toBe("from-meta");
  });

  it("falls back to the csrftoken cookie", () => {
    document.cookie = "other=1; path=/";
    document.cookie = "csrftoken=from-cookie; path=/";
    expect(csrfToken()).toBe("from-cookie");
  });

  it("is empty without either", () => {
    expect(csrfToken()).toBe("");
  });
});

describe("apiFetch", () => {
  it("sends CSRF, Accept and same-origin credentials", async () => {
    const meta = document.createElement("meta");
    meta.name = "csrf-token";
    meta.content = "tok123";
    document.head.append(meta);
    const fetchImpl = vi.fn<typeof fetch>(async () => jsonResponse({ ok: true }));

    const data = await apiJson<{ ok: boolean }>("/api/v1/x/", { method: "POST", json: { a: 1 }, fetchImpl });

    expect(data).toEqual({ ok: true });
    const [url, init] = fetchImpl.mock.calls[0] ?? [];
    expect(url).toBe("/api/v1/x/");
    expect(init?.credentials).toBe("same-origin");
    expect(init?.method).toBe("POST");
    expect(init?.body).toBe('{"a":1}');
    const headers = new Headers(init?.headers);
    expect(headers.get("X-CSRFToken")).toBe("tok123");
    expect(headers.get("Accept")).toBe("application/json");
    expect(headers.get("Content-Type")).toBe("application/json");
  });

  it("keeps a caller's Accept header", async () => {
    const fetchImpl = vi.fn<typeof fetch>(async () => new Response(new ArrayBuffer(4)));
    await apiFetch("/hu", { headers: { Accept: "application/octet-stream" }, fetchImpl });
    expect(new Headers(fetchImpl.mock.calls[0]?.[1]?.headers).get("Accept")).toBe("application/octet-stream");
  });

  it("throws ApiError built from the DRF body", async () => {
    const fetchImpl = vi.fn<typeof fetch>(async () => jsonResponse({ detail: "Not found." }, 404));
    const err = await apiFetch("/api/v1/missing/", { fetchImpl }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).message).toBe("Not found.");
  });

  it("maps network failures to status 0", async () => {
    const fetchImpl = vi.fn<typeof fetch>(async () => {
      throw new TypeError("Failed to fetch");
    });
    const err = await apiFetch("/api/v1/x/", { fetchImpl }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(0);
  });

  it("returns undefined for 204", async () => {
    const fetchImpl = vi.fn<typeof fetch>(async () => new Response(null, { status: 204 }));
    await expect(apiJson("/api/v1/x/", { method: "DELETE", fetchImpl })).resolves.toBeUndefined();
  });
});
