/**
 * Input wiring of the labeling viewer: keyboard, pointer, wheel, buttons and
 * window events become commands (see actions.ts for what each one means).
 * Holds only the state of a gesture in progress.
 */
import type { Heartbeat } from "./heartbeat";
import { KeyInterpreter, type Action } from "./keymap";
import { PointerGesture, hitTest, windowDrag, type GestureEffect } from "./points";
import { clickCommand, keepsFocus, runAction, wheelPixels, wheelSteps } from "./actions";
import type { ViewerCommands } from "./commands";
import type { ViewerSession } from "./session";
import { clampToImage, insideImage, screenDeltaToImage, screenToImage } from "./transform";
import type { ViewerView } from "./view";

type DragEffect = Extract<GestureEffect, { type: "drag" | "dragEnd" }>;

export class ViewerInput {
  private readonly doc: Document;
  private readonly win: Window | null;
  private readonly keys: KeyInterpreter;
  private readonly gesture = new PointerGesture();
  private readonly disposers: (() => void)[] = [];
  private wheelAcc = 0;
  private dragStart: { key: string; x: number; y: number } | null = null;

  constructor(
    private readonly s: ViewerSession,
    private readonly view: ViewerView,
    private readonly commands: ViewerCommands,
    private readonly heartbeat: Heartbeat | null,
    now?: () => number,
  ) {
    this.doc = view.dom.root.ownerDocument;
    this.win = this.doc.defaultView;
    this.keys = new KeyInterpreter(now);
  }

  /** Run a keymap action (as if its key was pressed). */
  perform(action: Action): void {
    runAction(this.commands, action);
  }

  bind(): void {
    this.bindKeys();
    this.bindWindow();
    this.bindPanel();
    this.bindCanvas();
  }

  dispose(): void {
    for (const d of this.disposers.splice(0)) d();
  }

  private listen<K extends keyof HTMLElementEventMap>(
    target: EventTarget,
    type: K | string,
    handler: (e: never) => void,
    options?: AddEventListenerOptions,
  ): void {
    const fn = handler as unknown as EventListener;
    target.addEventListener(type, fn, options);
    this.disposers.push(() => target.removeEventListener(type, fn, options));
  }

  private bindKeys(): void {
    this.listen(this.doc, "keydown", (e: KeyboardEvent) => this.onKeyDown(e));
    this.listen(this.doc, "keyup", (e: KeyboardEvent) => {
      const a = this.keys.keyUp(e);
      if (a?.type === "space") this.commands.panReady(false);
    });
  }

  private bindWindow(): void {
    const { win } = this;
    if (win) {
      const queue = this.s.queue;
      this.listen(win, "blur", () => {
        this.keys.reset();
        this.commands.panReady(false);
      });
      this.listen(win, "online", () => queue.retryNow());
      this.listen(win, "beforeunload", (e: BeforeUnloadEvent) => {
        if (queue.pending > 0 && !queue.blocked && !this.s.submitting) {
          e.preventDefault();
          e.returnValue = "";
        }
      });
      this.listen(win, "resize", () => this.commands.measure());
    }
    const RO = (win as (Window & { ResizeObserver?: typeof ResizeObserver }) | null)?.ResizeObserver;
    if (RO) {
      const ro = new RO(() => this.commands.measure());
      ro.observe(this.view.dom.stage);
      this.disposers.push(() => ro.disconnect());
    }
  }

  private bindPanel(): void {
    const dom = this.view.dom;
    this.listen(dom.root, "click", (e: MouseEvent) => this.onClick(e));
    this.listen(dom.root, "change", (e: Event) => this.onChange(e));
    this.listen(dom.excludeForm, "submit", (e: SubmitEvent) => {
      e.preventDefault();
      this.commands.exclude(dom.excludeReason.value, dom.excludeNote.value.trim());
    });
  }

  private bindCanvas(): void {
    const { canvas, stage } = this.view.dom;
    this.listen(canvas, "pointerdown", (e: PointerEvent) => this.onPointerDown(e));
    this.listen(canvas, "pointermove", (e: PointerEvent) => this.onPointerMove(e));
    this.listen(canvas, "pointerup", (e: PointerEvent) => this.onPointerUp(e));
    this.listen(canvas, "pointercancel", () => this.cancelGesture());
    this.listen(canvas, "contextmenu", (e: MouseEvent) => e.preventDefault());
    this.listen(canvas, "auxclick", (e: MouseEvent) => e.preventDefault());
    this.listen(canvas, "mousedown", (e: MouseEvent) => {
      if (e.button === 1) e.preventDefault(); // no middle-click autoscroll
    });
    this.listen(stage, "wheel", (e: WheelEvent) => this.onWheel(e), { passive: false });
  }

  private onKeyDown(e: KeyboardEvent): void {
    this.heartbeat?.touch();
    if (this.view.conflictShown) return; // blocked until reload
    if (this.view.keymapOpen) {
      if (e.key === "Escape" || e.key === "?") {
        e.preventDefault();
        this.commands.toggleKeymap(false);
      }
      return;
    }
    const action = this.keys.keyDown(e);
    if (!action) return;
    e.preventDefault();
    this.perform(action);
  }

  private onClick(e: MouseEvent): void {
    const target = e.target instanceof Element ? e.target.closest<HTMLElement>("[data-action]") : null;
    if (!target || !this.view.dom.root.contains(target)) return;
    const action = target.dataset["action"];
    const command = clickCommand(action);
    if (!command || action === undefined) return;
    command(this.commands, target, e);
    // Keep keyboard focus off buttons so Space (pan) and Enter do not re-click them.
    if (target instanceof HTMLButtonElement && !keepsFocus(action)) target.blur();
  }

  private onChange(e: Event): void {
    const target = e.target as HTMLElement | null;
    if (!target) return;
    if (target.dataset["action"] === "point-subtype" && target instanceof HTMLSelectElement) {
      this.commands.setPointSubtype(target.dataset["key"] ?? "", target.value || null);
    } else if (target.dataset["action"] === "toggle-ref-points" && target instanceof HTMLInputElement) {
      this.commands.showRefPoints(target.checked);
    }
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    this.heartbeat?.touch();
    const dy = wheelPixels(e);
    if (e.ctrlKey || e.metaKey) {
      const [sx, sy] = this.eventPoint(e);
      this.commands.zoom(Math.exp(-dy * 0.002), sx, sy);
      return;
    }
    const { steps, acc } = wheelSteps(dy, this.wheelAcc);
    this.wheelAcc = acc;
    if (steps) this.commands.step(steps, false);
  }

  private onPointerDown(e: PointerEvent): void {
    this.heartbeat?.touch();
    if (this.view.conflictShown) return;
    const s = this.s;
    const [sx, sy] = this.eventPoint(e);
    const hit = s.canEdit && (e.button === 0 || e.button === 2) ? hitTest(s.points, s.current, s.transform, sx, sy) : null;
    const mode = this.gesture.down({ button: e.button, sx, sy, space: this.keys.space, hitKey: hit?.key ?? null });
    if (!mode) return;
    if (e.button === 1) e.preventDefault(); // no autoscroll
    if (hit && e.button === 0) this.dragStart = { key: hit.key, x: hit.x, y: hit.y };
    this.view.stage("is-panning", mode === "pan");
    this.view.stage("is-windowing", mode === "window");
    try {
      this.view.dom.canvas.setPointerCapture?.(e.pointerId);
    } catch {
      /* happy-dom / synthetic events */
    }
  }

  private onPointerMove(e: PointerEvent): void {
    this.heartbeat?.touch();
    const s = this.s;
    const [sx, sy] = this.eventPoint(e);
    if (!this.gesture.active) {
      const over = s.canEdit && hitTest(s.points, s.current, s.transform, sx, sy) !== null;
      this.view.stage("is-over-marker", over);
      return;
    }
    this.applyGesture(this.gesture.move(sx, sy));
  }

  private onPointerUp(e: PointerEvent): void {
    const [sx, sy] = this.eventPoint(e);
    const effect = this.gesture.up(sx, sy, e.button);
    this.applyGesture(effect);
    if (!this.gesture.active) this.endGestureClasses();
  }

  private cancelGesture(): void {
    if (this.dragStart) {
      const p = this.s.pointByKey(this.dragStart.key);
      if (p) {
        p.x = this.dragStart.x;
        p.y = this.dragStart.y;
      }
    }
    this.dragStart = null;
    this.gesture.cancel();
    this.endGestureClasses();
    this.view.requestRender();
  }

  private endGestureClasses(): void {
    this.view.stage("is-panning", false);
    this.view.stage("is-windowing", false);
  }

  private applyGesture(effect: GestureEffect | null): void {
    if (!effect) return;
    const c = this.commands;
    switch (effect.type) {
      case "add": {
        const [x, y] = screenToImage(this.s.transform, effect.sx, effect.sy);
        if (!insideImage(x, y, this.s.columns, this.s.rows)) c.selectPoint(null);
        else c.addPoint(x, y);
        break;
      }
      case "select":
        c.selectPoint(effect.key);
        break;
      case "deselect":
        c.selectPoint(null);
        break;
      case "drag":
      case "dragEnd":
        this.applyDrag(effect);
        break;
      case "delete":
        c.deletePoint(effect.key);
        break;
      case "pan":
        c.pan(effect.dx, effect.dy);
        break;
      case "window": {
        const w = windowDrag(this.s.level, this.s.width, effect.dx, effect.dy);
        c.setWindow(w.level, w.width);
        break;
      }
    }
  }

  /** Move the grabbed marker with the pointer; save where it is let go. */
  private applyDrag(effect: DragEffect): void {
    const start = this.dragStart;
    const p = start && start.key === effect.key ? this.s.pointByKey(effect.key) : undefined;
    if (!start || !p) return;
    const [ddx, ddy] = screenDeltaToImage(this.s.transform, effect.dx, effect.dy);
    const [x, y] = clampToImage(start.x + ddx, start.y + ddy, this.s.columns, this.s.rows);
    if (effect.type === "drag") this.commands.dragPoint(p, x, y);
    else {
      this.dragStart = null;
      this.commands.dropPoint(p, x, y);
    }
  }

  /** Screen (canvas CSS px) position of a mouse event. */
  private eventPoint(e: MouseEvent): [number, number] {
    const rect = this.view.dom.canvas.getBoundingClientRect?.();
    const sx = e.clientX - (rect?.left ?? 0);
    const sy = e.clientY - (rect?.top ?? 0);
    return Number.isFinite(sx) && Number.isFinite(sy) ? [sx, sy] : [this.view.viewW / 2, this.view.viewH / 2];
  }
}
