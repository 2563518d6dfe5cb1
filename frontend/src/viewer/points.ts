/**
 * Bleeding-point interaction without DOM: hit testing of markers in screen
 * space and a pointer-gesture state machine that turns button/move/up
 * sequences into viewer effects.
 *
 *   left   click on empty image  -> add
 *          click on a marker     -> select
 *          drag a marker         -> drag (live) then dragEnd (commit)
 *          Space held: drag      -> pan
 *   middle drag                  -> pan
 *   right  drag (anywhere)       -> window (dx = width, dy = level)
 *          click on a marker     -> delete
 */
import { imageToScreen, type ViewTransform } from "./transform";

export interface PointLike {
  readonly key: string;
  readonly slice_index: number;
  readonly x: number;
  readonly y: number;
}

/** Marker radius in CSS pixels (constant on screen, whatever the zoom). */
export const MARKER_RADIUS = 9;
/** How close (CSS px) a pointer must be to a marker centre to grab it. */
export const HIT_RADIUS = 12;
/** Movement (CSS px) below which a press + release is a click. */
export const DRAG_THRESHOLD = 4;

/** The nearest marker of `slice` within `radius` screen px of (sx, sy), else null. */
export function hitTest<P extends PointLike>(
  points: readonly P[],
  slice: number,
  t: ViewTransform,
  sx: number,
  sy: number,
  radius = HIT_RADIUS,
): P | null {
  let best: P | null = null;
  let bestD2 = radius * radius;
  for (const p of points) {
    if (p.slice_index !== slice) continue;
    const [px, py] = imageToScreen(t, p.x, p.y);
    const d2 = (px - sx) ** 2 + (py - sy) ** 2;
    if (d2 <= bestD2) {
      best = p;
      bestD2 = d2;
    }
  }
  return best;
}

export type GestureEffect =
  | { type: "add"; sx: number; sy: number }
  | { type: "select"; key: string }
  | { type: "deselect" }
  | { type: "drag"; key: string; dx: number; dy: number } // total screen displacement since down
  | { type: "dragEnd"; key: string; dx: number; dy: number }
  | { type: "delete"; key: string }
  | { type: "pan"; dx: number; dy: number } // incremental
  | { type: "window"; dx: number; dy: number }; // incremental

export interface GestureDown {
  button: number;
  sx: number;
  sy: number;
  /** Space is held (left-drag pans). */
  space?: boolean;
  /** The marker under the pointer (null when none or when editing is off). */
  hitKey?: string | null;
}

type Mode = "point" | "pan" | "window";

export class PointerGesture {
  private mode: Mode | null = null;
  private button = -1;
  private startX = 0;
  private startY = 0;
  private lastX = 0;
  private lastY = 0;
  private moved = false;
  private hitKey: string | null = null;

  constructor(private readonly threshold = DRAG_THRESHOLD) {}

  get active(): boolean {
    return this.mode !== null;
  }

  get dragging(): boolean {
    return this.mode === "point" && this.moved && this.hitKey !== null;
  }

  /** Which mode a press starts (null: ignored button). */
  down(e: GestureDown): Mode | null {
    this.cancel();
    let mode: Mode | null = null;
    if (e.button === 0) mode = e.space ? "pan" : "point";
    else if (e.button === 1) mode = "pan";
    else if (e.button === 2) mode = "window";
    if (!mode) return null;
    this.mode = mode;
    this.button = e.button;
    this.startX = this.lastX = e.sx;
    this.startY = this.lastY = e.sy;
    this.moved = false;
    this.hitKey = e.hitKey ?? null;
    return mode;
  }

  move(sx: number, sy: number): GestureEffect | null {
    if (!this.mode) return null;
    if (!this.moved && Math.hypot(sx - this.startX, sy - this.startY) >= this.threshold) {
      this.moved = true;
    }
    const dx = sx - this.lastX;
    const dy = sy - this.lastY;
    this.lastX = sx;
    this.lastY = sy;
    if (!this.moved) return null;
    switch (this.mode) {
      case "pan":
        return dx || dy ? { type: "pan", dx, dy } : null;
      case "window":
        return dx || dy ? { type: "window", dx, dy } : null;
      case "point":
        return this.hitKey ? { type: "drag", key: this.hitKey, dx: sx - this.startX, dy: sy - this.startY } : null;
    }
  }

  up(sx: number, sy: number, button = this.button): GestureEffect | null {
    if (!this.mode || button !== this.button) return null;
    const effect = this.move(sx, sy);
    const mode = this.mode;
    const moved = this.moved;
    const key = this.hitKey;
    const dx = sx - this.startX;
    const dy = sy - this.startY;
    this.cancel();
    if (mode === "point") {
      if (key) return moved ? { type: "dragEnd", key, dx, dy } : { type: "select", key };
      return moved ? null : { type: "add", sx, sy };
    }
    if (mode === "window" && !moved && key) return { type: "delete", key };
    // pan / window: the last increment (if any) is still worth applying.
    return effect && (effect.type === "pan" || effect.type === "window") ? effect : null;
  }

  cancel(): void {
    this.mode = null;
    this.button = -1;
    this.moved = false;
    this.hitKey = null;
  }
}

/**
 * Window/level change for a right-drag increment (PACS style):
 * right = wider, left = narrower; down = higher level (darker), up = lower.
 * Sensitivity grows with the width so the bone window is as quick as brain.
 */
export function windowDrag(
  level: number,
  width: number,
  dx: number,
  dy: number,
): { level: number; width: number } {
  const k = Math.max(1, width / 100);
  return {
    width: Math.max(1, Math.round((width + dx * k) * 10) / 10),
    level: Math.round((level + dy * k) * 10) / 10,
  };
}
