/**
 * One serialized write queue for a read.
 *
 * - Writes never overlap: each request is built *when it is sent*, with the
 *   version returned by the previous write, so the version chain stays intact.
 * - A new op whose `coalesceKey` equals the last *waiting* op's key is merged
 *   into it (e.g. label PUTs made while another write is in flight).
 * - 409: the queue becomes `conflict` and is blocked: everything waiting is
 *   dropped and nothing is ever sent again (the page must be reloaded).
 * - Network errors (status 0), 5xx and 429: the same op is retried after an
 *   exponential backoff (state `offline`).
 * - Other 4xx: the op is dropped (its `onError` runs), the queue goes on, and
 *   the state shows the server's message until a later write succeeds.
 */
import { ApiError, apiFetch } from "../lib/api";

export type SaveState = "idle" | "saving" | "saved" | "offline" | "conflict" | "error";

export interface SaveStatus {
  state: SaveState;
  /** Ops waiting or in flight. */
  pending: number;
  /** Human text for the status line. */
  message: string;
  /** When `offline`: milliseconds until the next try. */
  retryInMs?: number;
}

export interface WriteRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  json?: unknown;
}

export interface WriteOp {
  readonly kind: string;
  /** Consecutive waiting ops with the same key are merged (see {@link WriteOp.merge}). */
  readonly coalesceKey?: string;
  /** Arbitrary grouping, e.g. the point key (see {@link SaveQueue.cancelWaiting}). */
  readonly tag?: string;
  /** Build the request with the current version; null = nothing to send any more (skipped). */
  build(version: number): WriteRequest | null;
  /** Fold a newer op with the same coalesceKey into this waiting one. */
  merge?(newer: WriteOp): boolean;
  onSuccess?(body: unknown): void;
  /** A failure that will not be retried (4xx other than 409). */
  onError?(error: ApiError): void;
}

export type WriteResult =
  | { ok: true; body: unknown; skipped?: boolean }
  | { ok: false; error: ApiError; reason: "error" | "conflict" | "cancelled" };

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realScheduler: Scheduler = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface SaveQueueOptions {
  version: number;
  fetchImpl?: typeof fetch;
  scheduler?: Scheduler;
  /** First retry delay (ms), doubled per failure up to `maxBackoffMs`. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  onStatus?(status: SaveStatus): void;
  onConflict?(error: ApiError): void;
}

interface Entry {
  op: WriteOp;
  resolve(result: WriteResult): void;
}

/** Delay before retry number `attempt` (1-based). */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export function isRetryable(error: ApiError): boolean {
  return error.status === 0 || error.status >= 500 || error.status === 429;
}

export class SaveQueue {
  private _version: number;
  private readonly entries: Entry[] = [];
  private inFlight: Entry | null = null;
  private running = false;
  private blockedBy: ApiError | null = null;
  private lastError: ApiError | null = null;
  private wake: (() => void) | null = null;
  private timer: unknown = null;
  private idleWaiters: (() => void)[] = [];
  private _status: SaveStatus = { state: "idle", pending: 0, message: "" };
  private readonly scheduler: Scheduler;
  private readonly baseBackoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: SaveQueueOptions) {
    this._version = options.version;
    this.scheduler = options.scheduler ?? realScheduler;
    this.baseBackoffMs = options.baseBackoffMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 30000;
  }

  get version(): number {
    return this._version;
  }

  get status(): SaveStatus {
    return this._status;
  }

  /** True after a 409: nothing will be sent any more. */
  get blocked(): boolean {
    return this.blockedBy !== null;
  }

  get conflictError(): ApiError | null {
    return this.blockedBy;
  }

  /** Ops waiting or in flight. */
  get pending(): number {
    return this.entries.length + (this.inFlight ? 1 : 0);
  }

  /** Waiting (not yet sent) ops. */
  waiting(): readonly WriteOp[] {
    return this.entries.map((e) => e.op);
  }

  isInFlight(predicate: (op: WriteOp) => boolean): boolean {
    return this.inFlight !== null && predicate(this.inFlight.op);
  }

  enqueue(op: WriteOp): Promise<WriteResult> {
    if (this.blockedBy) {
      return Promise.resolve({ ok: false, error: this.blockedBy, reason: "conflict" });
    }
    const tail = this.entries[this.entries.length - 1];
    if (tail && op.coalesceKey !== undefined && tail.op.coalesceKey === op.coalesceKey && tail.op.merge?.(op)) {
      return new Promise<WriteResult>((resolve) => {
        const previous = tail.resolve;
        tail.resolve = (r) => {
          previous(r);
          resolve(r);
        };
      });
    }
    const promise = new Promise<WriteResult>((resolve) => this.entries.push({ op, resolve }));
    this.emit();
    void this.pump();
    return promise;
  }

  /** Drop waiting (not in-flight) ops matching `predicate`; returns how many. */
  cancelWaiting(predicate: (op: WriteOp) => boolean): number {
    let n = 0;
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i] as Entry;
      if (!predicate(entry.op)) continue;
      this.entries.splice(i, 1);
      entry.resolve({ ok: false, error: new ApiError(0, "Cancelled."), reason: "cancelled" });
      n++;
    }
    if (n) this.emit();
    this.checkIdle();
    return n;
  }

  /** Resolves once nothing waits or is in flight (immediately when blocked). */
  flush(): Promise<void> {
    if (this.pending === 0 || this.blockedBy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Skip the rest of a backoff wait (e.g. the browser went back online). */
  retryNow(): void {
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private async pump(): Promise<void> {
    if (this.running || this.blockedBy) return;
    this.running = true;
    let attempt = 0;
    try {
      while (this.entries.length && !this.blockedBy) {
        const entry = this.entries.shift() as Entry;
        this.inFlight = entry;
        const request = entry.op.build(this._version);
        if (!request) {
          this.inFlight = null;
          entry.resolve({ ok: true, body: undefined, skipped: true });
          continue;
        }
        this.emit();
        let result: WriteResult;
        try {
          const body = await this.send(request);
          const v = (body as { version?: unknown } | undefined)?.version;
          if (typeof v === "number" && Number.isFinite(v)) this._version = v;
          attempt = 0;
          this.lastError = null;
          this.inFlight = null;
          try {
            entry.op.onSuccess?.(body);
          } finally {
            entry.resolve({ ok: true, body });
          }
          continue;
        } catch (err) {
          const error = err instanceof ApiError ? err : new ApiError(0, err instanceof Error ? err.message : String(err), { body: err });
          if (error.status === 409) {
            this.inFlight = null;
            this.block(error, entry);
            break;
          }
          if (isRetryable(error)) {
            attempt++;
            this.entries.unshift(entry); // retry the same op first
            this.inFlight = null;
            const delay = backoffDelay(attempt, this.baseBackoffMs, this.maxBackoffMs);
            this.setStatus({
              state: "offline",
              pending: this.pending,
              message: `Offline — retrying in ${Math.max(1, Math.round(delay / 1000))} s`,
              retryInMs: delay,
            });
            await this.sleep(delay);
            continue;
          }
          this.inFlight = null;
          this.lastError = error;
          result = { ok: false, error, reason: "error" };
          try {
            entry.op.onError?.(error);
          } finally {
            entry.resolve(result);
          }
        }
      }
    } finally {
      this.running = false;
      this.inFlight = null;
      this.emit();
      this.checkIdle();
    }
  }

  private async send(request: WriteRequest): Promise<unknown> {
    const init: Parameters<typeof apiFetch>[1] = { method: request.method };
    if (request.json !== undefined) init.json = request.json;
    if (this.options.fetchImpl) init.fetchImpl = this.options.fetchImpl;
    const response = await apiFetch(request.url, init);
    if (response.status === 204) return undefined;
    const text = await response.text().catch(() => "");
    if (!text) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }

  private block(error: ApiError, entry: Entry): void {
    this.blockedBy = error;
    const dropped = [entry, ...this.entries.splice(0)];
    for (const e of dropped) e.resolve({ ok: false, error, reason: "conflict" });
    this.options.onConflict?.(error);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = this.scheduler.setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  private checkIdle(): void {
    if (this.pending > 0 && !this.blockedBy) return;
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
  }

  private emit(): void {
    if (this.blockedBy) {
      this.setStatus({
        state: "conflict",
        pending: 0,
        message: "Conflict — not saved",
      });
      return;
    }
    const pending = this.pending;
    if (pending > 0 && this._status.state === "offline" && !this.inFlight) return; // keep the retry countdown
    if (pending > 0) {
      this.setStatus({ state: "saving", pending, message: "Saving…" });
    } else if (this.lastError) {
      this.setStatus({ state: "error", pending: 0, message: `Not saved: ${this.lastError.message}` });
    } else if (this._status.state !== "idle") {
      this.setStatus({ state: "saved", pending: 0, message: "Saved" });
    }
  }

  private setStatus(status: SaveStatus): void {
    this._status = status;
    this.options.onStatus?.(status);
  }
}
