// @vitest-environment node
import { describe, expect, it } from "vitest";
import { SliceCache, defaultFetcher, parseShape, prefetchOrder, type HuSlice } from "../../src/viewer/slices";
import { deferred, settle, type Deferred } from "./helpers";

function slice(v: number): HuSlice {
  return { hu: new Int16Array([v, v, v, v]), rows: 2, columns: 2 };
}

/** Fetcher whose requests stay open until the test resolves them. */
function heldFetcher() {
  const open = new Map<string, Deferred<HuSlice>>();
  const fetcher = (url: string) => {
    const d = deferred<HuSlice>();
    open.set(url, d);
    return d.promise;
  };
  const finish = async (url: string, fail = false) => {
    const d = open.get(url);
    if (!d) throw new Error(`${url} was not requested`);
    open.delete(url);
    if (fail) d.reject(new Error("boom"));
    else d.resolve(slice(Number(url.slice(1))));
    await settle(1);
  };
  return { fetcher, open, finish };
}

const urls = (n: number) => Array.from({ length: n }, (_, i) => `/${i}`);

describe("prefetch order", () => {
  it("is the focus, ±1..±3 (next first), then the rest by distance", () => {
    expect(prefetchOrder(5, 12)).toEqual([5, 6, 4, 7, 3, 8, 2, 9, 1, 10, 0, 11]);
    expect(prefetchOrder(0, 6)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(prefetchOrder(29, 30).slice(0, 4)).toEqual([29, 28, 27, 26]);
    expect(prefetchOrder(1, 3)).toEqual([1, 2, 0]);
    expect(prefetchOrder(0, 0)).toEqual([]);
  });
});

describe("slice cache", () => {
  it("loads with a concurrency limit, nearest first, and reprioritises on focus", async () => {
    const { fetcher, open, finish } = heldFetcher();
    const loaded: number[] = [];
    const cache = new SliceCache({ urls: urls(20), shape: [2, 2], fetcher, concurrency: 2, onLoad: (i) => loaded.push(i) });
    cache.focus(10);
    expect(cache.started).toEqual([10, 11]);
    expect(open.size).toBe(2);
    await finish("/10");
    expect(cache.started).toEqual([10, 11, 9]);
    expect(cache.get(10)?.hu[0]).toBe(10);
    cache.focus(2); // jump: 2 comes next, then its neighbours
    await finish("/11");
    expect(cache.started.slice(3)).toEqual([2]);
    await finish("/9");
    expect(cache.started.slice(4)).toEqual([3]);
    expect(loaded).toEqual([10, 11, 9]);
    // Drain everything: each slice is fetched exactly once.
    while (open.size) await finish([...open.keys()][0]!);
    expect(cache.loadedCount).toBe(20);
    expect(new Set(cache.started).size).toBe(20);
    expect(cache.started.length).toBe(20);
  });

  it("keeps only the nearest slices within the memory budget", async () => {
    const { open, fetcher, finish } = heldFetcher();
    // 2x2 int16 = 8 bytes per slice; budget 7 slices = ±3 around the focus.
    const cache = new SliceCache({ urls: urls(20), shape: [2, 2], fetcher, concurrency: 3, maxBytes: 56 });
    cache.focus(10);
    while (open.size) await finish([...open.keys()][0]!);
    expect(new Set(cache.started)).toEqual(new Set([7, 8, 9, 10, 11, 12, 13]));
    cache.focus(15);
    while (open.size) await finish([...open.keys()][0]!);
    expect([...Array(20).keys()].filter((i) => cache.has(i))).toEqual([12, 13, 14, 15, 16, 17, 18]);
  });

  it("retries a failing slice a few times, then waits for retry()", async () => {
    const { open, fetcher, finish } = heldFetcher();
    const errors: number[] = [];
    const cache = new SliceCache({ urls: urls(1), shape: [2, 2], fetcher, maxAttempts: 2, onError: (i) => errors.push(i) });
    cache.focus(0);
    await finish("/0", true);
    await finish("/0", true);
    expect(open.size).toBe(0);
    expect(errors).toEqual([0]);
    expect(cache.failed(0)).toBeInstanceOf(Error);
    cache.retry(0);
    await finish("/0");
    expect(cache.has(0)).toBe(true);
    expect(cache.failed(0)).toBeUndefined();
  });

  it("decodes the HU response with X-Slice-Shape", async () => {
    expect(parseShape("2,3")).toEqual([2, 3]);
    expect(parseShape(" 512, 512 ")).toEqual([512, 512]);
    expect(parseShape("2")).toBeNull();
    expect(parseShape(null)).toBeNull();
    const bytes = new Uint8Array(new Int16Array([-1000, 40, 80, 3000, 0, 1]).buffer);
    const seen: string[] = [];
    const fetchImpl = (async (url: RequestInfo | URL, init?: RequestInit) => {
      seen.push(`${String(url)} ${new Headers(init?.headers).get("Accept")}`);
      return new Response(bytes, { headers: { "X-Slice-Shape": "2,3", "Content-Type": "application/octet-stream" } });
    }) as typeof fetch;
    const s = await defaultFetcher(fetchImpl)("/api/v1/slices/101/hu", [512, 512]);
    expect(s.rows).toBe(2);
    expect(s.columns).toBe(3);
    expect(Array.from(s.hu)).toEqual([-1000, 40, 80, 3000, 0, 1]);
    expect(seen).toEqual(["/api/v1/slices/101/hu application/octet-stream"]);
  });
});
