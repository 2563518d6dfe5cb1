/** Test doubles for the viewer: manual scheduler, scriptable fetch. */
import type { Scheduler } from "../../src/viewer/savequeue";

export class FakeScheduler implements Scheduler {
  now = 0;
  private seq = 0;
  timers: { id: number; at: number; ms: number; fn: () => void }[] = [];
  readonly delays: number[] = [];

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.push({ id, at: this.now + ms, ms, fn });
    this.delays.push(ms);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Advance the clock, running due timers in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.now = due.at;
      due.fn();
    }
    this.now = until;
  }
}

/** Let pending promise chains (fetch -> text -> JSON) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setTimeout(r, 0));
}

export function json(body: unknown, status = 200): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

export interface Call {
  method: string;
  url: string;
  body: unknown;
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * fetch double: every call is recorded and answered by `answer` (which may
 * return a promise to hold the request "in flight").
 */
export function scriptedFetch(answer: (call: Call, n: number) => Response | Promise<Response>): {
  fetch: typeof fetch;
  calls: Call[];
  maxConcurrent: () => number;
} {
  const calls: Call[] = [];
  let active = 0;
  let max = 0;
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    const call = { method: init?.method ?? "GET", url: String(input), body };
    calls.push(call);
    active++;
    max = Math.max(max, active);
    try {
      return await answer(call, calls.length - 1);
    } finally {
      active--;
    }
  }) as typeof fetch;
  return { fetch: fetchImpl, calls, maxConcurrent: () => max };
}
