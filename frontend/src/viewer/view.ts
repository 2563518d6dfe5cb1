/**
 * DOM updates of the labeling viewer: commands say what changed in the
 * {@link ViewerSession}, the view rewrites the parts of the page that show it
 * (through panel.ts) and draws the canvas once per animation frame. It also
 * owns the stage's hint line, dialogs and state classes. Changes nothing but
 * the page.
 */
import type { ApiError } from "../lib/api";
import { ViewerPanel } from "./panel";
import { WindowedImage, drawFrame, subtypeColor, type Ctx2D, type MarkerSpec } from "./render";
import type { SaveStatus } from "./savequeue";
import type { ViewerSession } from "./session";
import type { SliceCache } from "./slices";
import type { ViewerDom } from "./ui";

/** Classes on the stage that show what the pointer and keys are doing. */
export type StageFlag = "is-pan-ready" | "is-chord" | "is-panning" | "is-windowing" | "is-over-marker";

/** The markers on the current slice: reference reads' points (when shown) under the reader's own. */
export function sliceMarkers(
  s: Pick<ViewerSession, "read" | "points" | "current" | "selectedKey" | "subtypes" | "showRefPoints">,
): MarkerSpec[] {
  const markers: MarkerSpec[] = [];
  if (s.showRefPoints) {
    (s.read.adjudication?.reads ?? []).forEach((r, ri) => {
      for (const p of r.points) {
        if (p.slice_index !== s.current) continue;
        markers.push({ x: p.x, y: p.y, color: subtypeColor(p.subtype, s.subtypes), reference: true, label: `${String.fromCharCode(65 + ri)}${p.subtype ? ` ${p.subtype}` : ""}` });
      }
    });
  }
  for (const p of s.points) {
    if (p.slice_index !== s.current) continue;
    markers.push({ x: p.x, y: p.y, color: subtypeColor(p.subtype, s.subtypes), label: p.subtype ?? "", selected: p.key === s.selectedKey });
  }
  return markers;
}

export class ViewerView {
  private readonly doc: Document;
  private readonly win: Window | null;
  private readonly ctx: Ctx2D | null;
  private readonly image: WindowedImage;
  private readonly panel: ViewerPanel;
  private w = 0;
  private h = 0;
  private dpr = 1;
  private frameRequested = false;
  private hintTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  constructor(
    private readonly s: ViewerSession,
    readonly dom: ViewerDom,
    private readonly slices: SliceCache,
    private readonly devicePixelRatio?: number,
  ) {
    this.doc = dom.root.ownerDocument;
    this.win = this.doc.defaultView;
    let ctx: Ctx2D | null = null;
    try {
      ctx = dom.canvas.getContext("2d") as Ctx2D | null;
    } catch {
      ctx = null;
    }
    this.ctx = ctx;
    this.image = new WindowedImage(this.doc);
    this.panel = new ViewerPanel(s, dom, slices);
  }

  /** Canvas size in CSS px (as last measured). */
  get viewW(): number {
    return this.w;
  }

  get viewH(): number {
    return this.h;
  }

  get conflictShown(): boolean {
    return !this.dom.conflict.hidden;
  }

  get keymapOpen(): boolean {
    return !this.dom.keymap.hidden;
  }

  get excludeFormOpen(): boolean {
    return !this.dom.excludeForm.hidden;
  }

  /** Size the canvas to its box; the previous size when it changed, else null. */
  measure(): { width: number; height: number } | null {
    const canvas = this.dom.canvas;
    const rect = canvas.getBoundingClientRect?.();
    const w = Math.round(rect?.width || canvas.clientWidth || 0) || this.s.columns || 512;
    const h = Math.round(rect?.height || canvas.clientHeight || 0) || this.s.rows || 512;
    const dpr = this.devicePixelRatio ?? this.win?.devicePixelRatio ?? 1;
    if (w === this.w && h === this.h && dpr === this.dpr) return null;
    const old = { width: this.w, height: this.h };
    this.w = w;
    this.h = h;
    this.dpr = dpr || 1;
    canvas.width = Math.round(w * this.dpr);
    canvas.height = Math.round(h * this.dpr);
    return old;
  }

  // ------------------------------------------------------------ canvas

  requestRender(): void {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = true;
    const raf = this.win?.requestAnimationFrame?.bind(this.win);
    const run = (): void => {
      this.frameRequested = false;
      if (!this.destroyed) this.draw();
    };
    if (raf) raf(run);
    else setTimeout(run, 16);
  }

  /** Draw now (image + markers). No-op without a 2D context. */
  draw(): void {
    const ctx = this.ctx;
    if (!ctx) return;
    const s = this.s;
    const slice = this.slices.get(s.current);
    const image = slice ? this.image.update(slice, s.current, s.level, s.width) : null;
    let message: string | undefined;
    if (!slice) message = this.slices.failed(s.current) ? "Could not load this slice — press R to retry" : "Loading…";
    drawFrame(ctx, {
      cssWidth: this.w,
      cssHeight: this.h,
      dpr: this.dpr,
      transform: s.transform,
      image,
      imageWidth: slice?.columns ?? s.columns,
      imageHeight: slice?.rows ?? s.rows,
      markers: sliceMarkers(s),
      ...(message ? { message } : {}),
    });
  }

  // ------------------------------------------------------------ what changed

  refreshAll(): void {
    const p = this.panel;
    p.updateCaseInfo();
    p.updateRows();
    p.updateProgress();
    p.updateSliceInfo();
    p.updateWindowInfo();
    p.updateZoomInfo();
    p.updateLabelPanel();
    p.updateArmed();
    p.updatePointsPanel();
    p.updateReference();
    p.updateExclusion();
    p.updateEditable();
    this.showSaveStatus(this.s.queue.status);
    this.requestRender();
  }

  /** The current slice moved from `prev` (`allRows`: a range was or is set). */
  sliceChanged(prev: number, allRows: boolean): void {
    const p = this.panel;
    const i = this.s.current;
    if (allRows) p.updateRows();
    else {
      p.updateRow(prev);
      p.updateRow(i);
    }
    this.dom.rows[i]?.scrollIntoView?.({ block: "nearest" });
    p.updateSliceInfo();
    p.updateLabelPanel();
    p.updatePointsPanel();
    p.updateReference();
    this.requestRender();
  }

  sliceLoaded(i: number): void {
    this.dom.rows[i]?.classList.add("is-loaded");
    if (i === this.s.current) this.requestRender();
  }

  labelsChanged(slices: Iterable<number>): void {
    for (const i of slices) this.panel.updateRow(i);
    this.panel.updateLabelPanel();
    this.panel.updateProgress();
    this.panel.updateCaseInfo();
  }

  rangeChanged(): void {
    this.panel.updateRows();
    this.panel.updateLabelPanel();
  }

  pointsChanged(slice: number): void {
    this.panel.updateRow(slice);
    this.selectionChanged();
  }

  selectionChanged(): void {
    this.panel.updatePointsPanel();
    this.requestRender();
  }

  armedChanged(): void {
    this.panel.updateArmed();
  }

  windowChanged(): void {
    this.panel.updateWindowInfo();
    this.requestRender();
  }

  zoomChanged(): void {
    this.panel.updateZoomInfo();
    this.requestRender();
  }

  exclusionChanged(): void {
    this.panel.updateExclusion();
  }

  /** Whether editing is possible changed (submitting, conflict). */
  editableChanged(): void {
    this.panel.updateEditable();
  }

  statusChanged(): void {
    this.panel.updateCaseInfo();
  }

  stage(flag: StageFlag, on: boolean): void {
    this.dom.stage.classList.toggle(flag, on);
  }

  showExcludeForm(open: boolean): void {
    this.dom.excludeForm.hidden = !open;
    if (open) this.dom.excludeReason.focus();
  }

  toggleKeymap(open = this.dom.keymap.hidden): void {
    this.dom.keymap.hidden = !open;
    if (open) this.dom.keymap.querySelector<HTMLButtonElement>("[data-action=help-close]")?.focus();
  }

  /** Short message in the stage (hint line). */
  flash(text: string, ms = 2500): void {
    this.dom.hint.textContent = text;
    this.dom.hint.hidden = false;
    if (this.hintTimer) clearTimeout(this.hintTimer);
    this.hintTimer = setTimeout(() => {
      this.dom.hint.textContent = "";
      this.hintTimer = null;
    }, ms);
  }

  showSaveStatus(st: SaveStatus): void {
    const el = this.dom.save;
    el.dataset["state"] = st.state;
    el.textContent = st.state === "idle" ? (this.s.editableRead ? "All changes are saved automatically" : "") : st.message;
    el.title = st.state === "error" ? st.message : "";
  }

  showConflict(error: ApiError): void {
    this.dom.conflictText.textContent = "This read was changed in another tab or window. Reload to see the latest version.";
    if (error.detail && !/changed/i.test(error.detail)) this.dom.conflictText.append(` (${error.detail})`);
    this.dom.conflict.hidden = false;
    this.dom.root.dataset["conflict"] = "";
  }

  focusReload(): void {
    this.dom.conflict.querySelector<HTMLButtonElement>("[data-action=reload]")?.focus();
  }

  destroy(): void {
    this.destroyed = true;
    if (this.hintTimer) clearTimeout(this.hintTimer);
  }
}
