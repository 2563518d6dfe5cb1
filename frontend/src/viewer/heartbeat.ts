/**
 * Reading-time heartbeat: every `intervalMs` (15 s), POST {"seconds": 15}
 * when the tab is visible and the user interacted within `idleMs` (60 s).
 * Not part of the versioned write queue; failures are ignored.
 */
import type { Scheduler } from "./savequeue";
import { realScheduler } from "./savequeue";

export interface HeartbeatOptions {
  send(seconds: number): Promise<unknown> | void;
  isVisible(): boolean;
  now?: () => number;
  scheduler?: Scheduler;
  intervalMs?: number;
  idleMs?: number;
}

export class Heartbeat {
  private lastInteraction = -Infinity;
  private handle: unknown = null;
  private readonly now: () => number;
  private readonly scheduler: Scheduler;
  private readonly intervalMs: number;
  private readonly idleMs: number;

  constructor(private readonly options: HeartbeatOptions) {
    this.now = options.now ?? (() => Date.now());
    this.scheduler = options.scheduler ?? realScheduler;
    this.intervalMs = options.intervalMs ?? 15000;
    this.idleMs = options.idleMs ?? 60000;
  }

  /** Call on key, pointer and wheel input. */
  touch(): void {
    this.lastInteraction = this.now();
  }

  start(): void {
    if (this.handle !== null) return;
    this.touch();
    this.schedule();
  }

  stop(): void {
    if (this.handle !== null) this.scheduler.clearTimeout(this.handle);
    this.handle = null;
  }

  /** One heartbeat decision (exposed for tests). */
  tick(): boolean {
    const active = this.options.isVisible() && this.now() - this.lastInteraction <= this.idleMs;
    if (active) {
      try {
        const r = this.options.send(Math.round(this.intervalMs / 1000));
        if (r && typeof (r as Promise<unknown>).catch === "function") (r as Promise<unknown>).catch(() => undefined);
      } catch {
        /* ignored */
      }
    }
    return active;
  }

  private schedule(): void {
    this.handle = this.scheduler.setTimeout(() => {
      this.handle = null;
      this.tick();
      this.schedule();
    }, this.intervalMs);
  }
}
