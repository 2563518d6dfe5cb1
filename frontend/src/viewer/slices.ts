/**
 * HU slice cache with prefetching.
 *
 * Load order around the slice being viewed ("focus"): the focus itself, then
 * ±1, ±2, ±3 (next before previous), then the rest of the series by distance.
 * At most `concurrency` requests run at once; whenever the focus moves, the
 * waiting order is recomputed, so the slice on screen always comes next.
 * A memory budget bounds how many slices are kept (the nearest ones).
 */
import { apiFetch } from "../lib/api";
import { parseHuResponse } from "../lib/windowing";

export interface HuSlice {
  readonly hu: Int16Array;
  readonly rows: number;
  readonly columns: number;
}

export type SliceFetcher = (url: string, fallbackShape: readonly [number, number]) => Promise<HuSlice>;

/**
 * Focus, then ±1, ±2, ±3 (next before previous), then all others by distance
 * (next first): ordering by distance puts the ±3 neighbours right after the focus.
 */
export function prefetchOrder(center: number, count: number): number[] {
  const order: number[] = [];
  if (count <= 0) return order;
  const c = Math.min(Math.max(0, Math.round(center)), count - 1);
  order.push(c);
  const maxDistance = Math.max(c, count - 1 - c);
  for (let d = 1; d <= maxDistance; d++) {
    if (c + d < count) order.push(c + d);
    if (c - d >= 0) order.push(c - d);
  }
  return order;
}

/** Parse "rows,columns" (X-Slice-Shape). */
export function parseShape(header: string | null): [number, number] | null {
  if (!header) return null;
  const parts = header.split(/[,x ]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || !parts.every((n) => Number.isInteger(n) && n > 0)) return null;
  return [parts[0] as number, parts[1] as number];
}

export function defaultFetcher(fetchImpl?: typeof fetch): SliceFetcher {
  return async (url, fallbackShape) => {
    const init: Parameters<typeof apiFetch>[1] = { headers: { Accept: "application/octet-stream" } };
    if (fetchImpl) init.fetchImpl = fetchImpl;
    const response = await apiFetch(url, init);
    const shape = parseShape(response.headers.get("X-Slice-Shape")) ?? fallbackShape;
    const buffer = await response.arrayBuffer();
    const hu = parseHuResponse(buffer, shape);
    return { hu, rows: shape[0], columns: shape[1] };
  };
}

export interface SliceCacheOptions {
  urls: readonly string[];
  /** [rows, columns] from the series, used when X-Slice-Shape is missing. */
  shape: readonly [number, number];
  fetcher?: SliceFetcher;
  concurrency?: number;
  /** Neighbours on each side that are always kept, whatever the budget (default 3). */
  radius?: number;
  /** Memory budget for decoded slices (bytes). */
  maxBytes?: number;
  /** Attempts per slice before giving up (until {@link SliceCache.retry}). */
  maxAttempts?: number;
  onLoad?(index: number, slice: HuSlice): void;
  onError?(index: number, error: unknown): void;
}

export class SliceCache {
  private readonly cache = new Map<number, HuSlice>();
  private readonly inFlight = new Set<number>();
  private readonly failures = new Map<number, number>();
  private readonly lastError = new Map<number, unknown>();
  private center = 0;
  private readonly fetcher: SliceFetcher;
  private readonly concurrency: number;
  private readonly maxSlices: number;
  private readonly maxAttempts: number;
  private disposed = false;
  /** Indices in the order their fetches were started (tests, diagnostics). */
  readonly started: number[] = [];

  constructor(private readonly options: SliceCacheOptions) {
    this.fetcher = options.fetcher ?? defaultFetcher();
    this.concurrency = Math.max(1, options.concurrency ?? 3);
    const radius = Math.max(0, options.radius ?? 3);
    const bytesPerSlice = Math.max(1, options.shape[0] * options.shape[1] * 2);
    const budget = options.maxBytes ?? 768 * 1024 * 1024;
    this.maxSlices = Math.max(2 * radius + 1, Math.floor(budget / bytesPerSlice));
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 3);
  }

  get count(): number {
    return this.options.urls.length;
  }

  get(index: number): HuSlice | undefined {
    return this.cache.get(index);
  }

  has(index: number): boolean {
    return this.cache.has(index);
  }

  isLoading(index: number): boolean {
    return this.inFlight.has(index);
  }

  /** The error of a slice that gave up (all attempts failed), else undefined. */
  failed(index: number): unknown {
    return (this.failures.get(index) ?? 0) >= this.maxAttempts ? this.lastError.get(index) : undefined;
  }

  get loadedCount(): number {
    return this.cache.size;
  }

  /** The slice on screen changed: reprioritise and keep loading. */
  focus(index: number): void {
    this.center = index;
    this.pump();
  }

  /** Forget failures of `index` and try again. */
  retry(index: number): void {
    this.failures.delete(index);
    this.lastError.delete(index);
    this.pump();
  }

  dispose(): void {
    this.disposed = true;
  }

  /** Slices that should be in memory now, best first. */
  wanted(): number[] {
    return prefetchOrder(this.center, this.count).slice(0, this.maxSlices);
  }

  private pump(): void {
    if (this.disposed) return;
    const wanted = this.wanted();
    this.evict(wanted);
    for (const i of wanted) {
      if (this.inFlight.size >= this.concurrency) break;
      if (this.cache.has(i) || this.inFlight.has(i)) continue;
      if ((this.failures.get(i) ?? 0) >= this.maxAttempts) continue;
      this.start(i);
    }
  }

  private evict(wanted: readonly number[]): void {
    if (this.cache.size <= this.maxSlices) return;
    const keep = new Set(wanted);
    for (const i of [...this.cache.keys()]) if (!keep.has(i)) this.cache.delete(i);
  }

  private start(index: number): void {
    const url = this.options.urls[index];
    if (url === undefined) return;
    this.inFlight.add(index);
    this.started.push(index);
    this.fetcher(url, this.options.shape).then(
      (slice) => {
        this.inFlight.delete(index);
        if (this.disposed) return;
        this.failures.delete(index);
        this.lastError.delete(index);
        this.cache.set(index, slice);
        this.options.onLoad?.(index, slice);
        this.pump();
      },
      (error: unknown) => {
        this.inFlight.delete(index);
        if (this.disposed) return;
        this.failures.set(index, (this.failures.get(index) ?? 0) + 1);
        this.lastError.set(index, error);
        if ((this.failures.get(index) ?? 0) >= this.maxAttempts) this.options.onError?.(index, error);
        this.pump();
      },
    );
  }
}
