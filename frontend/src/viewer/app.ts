/**
 * The labeling viewer controller: owns the state of one read, wires DOM
 * events to the pure modules (state, keymap, transform, points, savequeue,
 * slices, render) and keeps the DOM in sync.
 */
import { ApiError, apiFetch, apiJson } from "../lib/api";
import { PRESETS, type PresetName } from "../lib/windowing";
import { Heartbeat } from "./heartbeat";
import { KeyInterpreter, VIEWER_PRESETS, type Action } from "./keymap";
import { PointerGesture, hitTest, windowDrag, type GestureEffect } from "./points";
import { WindowedImage, drawFrame, subtypeColor, type Ctx2D, type MarkerSpec } from "./render";
import { SaveQueue, type SaveStatus, type Scheduler } from "./savequeue";
import { SliceCache, defaultFetcher, type SliceFetcher } from "./slices";
import {
  applyPatch,
  copyLabels,
  copyPrevious,
  inRange,
  labelsFromApi,
  rangeSlices,
  setNone,
  summarize,
  toggleCode,
  type Codes,
  type LabelPatch,
  type SliceRange,
} from "./state";
import {
  aspectFromSpacing,
  clampToImage,
  fitTransform,
  insideImage,
  panBy,
  recenter,
  screenDeltaToImage,
  screenToImage,
  zoomAbout,
  type ViewTransform,
} from "./transform";
import type { ClientPoint, ReadData } from "./types";
import { buildViewerDom, chips, formatZ, h, renderPointsList, statusLabel, updateRow, type ViewerDom } from "./ui";
import { LabelsWrite, createPointWrite, deletePointWrite, endpoint, simpleWrite, updatePointWrite } from "./writes";

export interface ViewerDeps {
  fetchImpl?: typeof fetch;
  /** Slice loader (default: GET hu_url through apiFetch). */
  fetchSlice?: SliceFetcher;
  navigate?: (url: string) => void;
  reload?: () => void;
  confirm?: (message: string) => boolean;
  scheduler?: Scheduler;
  now?: () => number;
  /** Send reading-time heartbeats (default true). */
  heartbeat?: boolean;
  devicePixelRatio?: number;
  sliceConcurrency?: number;
}

const DEFAULT_PRESET: PresetName = "brain";
const FIT_MARGIN = 8;

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

function errorText(err: unknown): string {
  if (err instanceof ApiError || err instanceof Error) return err.message;
  return String(err);
}

/** Mount the viewer on `root` (#viewer with data-read-url / data-queue-url). */
export async function mountViewer(root: HTMLElement, deps: ViewerDeps = {}): Promise<Viewer | null> {
  const doc = root.ownerDocument;
  const readUrl = root.dataset["readUrl"];
  root.classList.add("vw");
  if (!readUrl) {
    root.replaceChildren(h(doc, "p", { class: "vw-error", role: "alert" }, "Viewer: data-read-url is missing."));
    return null;
  }
  root.setAttribute("aria-busy", "true");
  root.replaceChildren(h(doc, "p", { class: "vw-loading", role: "status" }, "Loading the case…"));
  try {
    const init: Parameters<typeof apiJson>[1] = {};
    if (deps.fetchImpl) init.fetchImpl = deps.fetchImpl;
    const read = await apiJson<ReadData>(readUrl, init);
    root.removeAttribute("aria-busy");
    return new Viewer(root, read, readUrl, deps);
  } catch (err) {
    root.removeAttribute("aria-busy");
    const retry = h(doc, "button", { type: "button", class: "vw-btn" }, "Try again");
    retry.addEventListener("click", () => void mountViewer(root, deps));
    root.replaceChildren(
      h(doc, "div", { class: "vw-error", role: "alert" }, h(doc, "p", {}, `Could not load the case: ${errorText(err)}`), retry),
    );
    return null;
  }
}

export class Viewer {
  readonly dom: ViewerDom;
  readonly queue: SaveQueue;
  readonly slices: SliceCache;
  readonly subtypes: readonly string[];
  readonly n: number;
  readonly rows: number;
  readonly columns: number;
  readonly queueUrl: string;

  labels: Map<number, Codes>;
  points: ClientPoint[];
  current = 0;
  range: SliceRange | null = null;
  armed: string | null = null;
  selectedKey: string | null = null;
  level: number = PRESETS[DEFAULT_PRESET].level;
  width: number = PRESETS[DEFAULT_PRESET].width;
  preset: PresetName | null = DEFAULT_PRESET;
  transform: ViewTransform;
  excluded: boolean;
  exclusionReason: string;
  exclusionNote: string;
  status: ReadData["status"];
  submitting = false;
  showRefPoints = true;

  private readonly doc: Document;
  private readonly win: Window | null;
  private readonly keys: KeyInterpreter;
  private readonly gesture = new PointerGesture();
  private readonly image: WindowedImage;
  private readonly ctx: Ctx2D | null;
  private readonly aspect: number;
  private readonly refLabels: Map<number, Codes>[];
  private readonly heartbeat: Heartbeat | null;
  private readonly disposers: (() => void)[] = [];
  private viewW = 0;
  private viewH = 0;
  private dpr = 1;
  private userView = false;
  private frameRequested = false;
  private pointSeq = 0;
  private wheelAcc = 0;
  private dragStart: { key: string; x: number; y: number } | null = null;
  private hintTimer: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  constructor(
    readonly root: HTMLElement,
    readonly read: ReadData,
    readonly readUrl: string,
    private readonly deps: ViewerDeps = {},
  ) {
    this.doc = root.ownerDocument;
    this.win = this.doc.defaultView;
    this.queueUrl = root.dataset["queueUrl"] || "/";
    this.subtypes = read.subtypes ?? [];
    this.n = read.slices.length;
    this.rows = read.case.series.rows;
    this.columns = read.case.series.columns;
    this.aspect = aspectFromSpacing(read.case.series.pixel_spacing);
    this.labels = labelsFromApi(read.labels, this.n, this.subtypes);
    this.points = (read.points ?? []).map((p) => ({ key: p.id, id: p.id, slice_index: p.slice_index, x: p.x, y: p.y, subtype: p.subtype }));
    this.refLabels = (read.adjudication?.reads ?? []).map((r) => labelsFromApi(r.labels, this.n, this.subtypes));
    this.excluded = read.excluded;
    this.exclusionReason = read.exclusion_reason ?? "";
    this.exclusionNote = read.exclusion_note ?? "";
    this.status = read.status;
    this.keys = new KeyInterpreter(deps.now);
    this.transform = { scale: 1, aspect: this.aspect, tx: 0, ty: 0 };

    this.dom = buildViewerDom(root, read);
    let ctx: Ctx2D | null = null;
    try {
      ctx = this.dom.canvas.getContext("2d") as Ctx2D | null;
    } catch {
      ctx = null;
    }
    this.ctx = ctx;
    this.image = new WindowedImage(this.doc);

    const queueOptions: ConstructorParameters<typeof SaveQueue>[0] = {
      version: read.version,
      onStatus: (s) => this.showSaveStatus(s),
      onConflict: (e) => this.showConflict(e),
    };
    if (deps.fetchImpl) queueOptions.fetchImpl = deps.fetchImpl;
    if (deps.scheduler) queueOptions.scheduler = deps.scheduler;
    this.queue = new SaveQueue(queueOptions);

    this.slices = new SliceCache({
      urls: read.slices.map((s) => s.hu_url),
      shape: [this.rows, this.columns],
      fetcher: deps.fetchSlice ?? defaultFetcher(deps.fetchImpl),
      concurrency: deps.sliceConcurrency ?? 3,
      onLoad: (i) => this.sliceLoaded(i),
      onError: (i) => {
        if (i === this.current) this.requestRender();
      },
    });

    this.heartbeat =
      deps.heartbeat === false || !this.editableRead
        ? null
        : new Heartbeat({
            send: (seconds) => {
              const init: Parameters<typeof apiFetch>[1] = { method: "POST", json: { seconds } };
              if (deps.fetchImpl) init.fetchImpl = deps.fetchImpl;
              return apiFetch(endpoint(readUrl, "heartbeat"), init);
            },
            isVisible: () => this.doc.visibilityState !== "hidden",
            ...(deps.now ? { now: deps.now } : {}),
            ...(deps.scheduler ? { scheduler: deps.scheduler } : {}),
          });

    const last = read.last_slice_index;
    this.current = typeof last === "number" && last >= 0 && last < this.n ? last : 0;

    this.bind();
    this.measure();
    this.fit();
    this.refreshAll();
    this.slices.focus(this.current);
    this.heartbeat?.start();
    root.dataset["ready"] = "";
  }

  // ------------------------------------------------------------ derived

  /** The server lets us edit this read at all. */
  get editableRead(): boolean {
    return this.read.editable && this.status !== "submitted";
  }

  /** Editing is possible right now (not read-only, no conflict, not submitting). */
  get canEdit(): boolean {
    return this.editableRead && !this.queue.blocked && !this.submitting;
  }

  /** Slices a label key applies to: the range, or the current slice. */
  get targets(): number[] {
    return this.range ? rangeSlices(this.range) : [this.current];
  }

  // ------------------------------------------------------------ slices

  setSlice(index: number, opts: { extend?: boolean } = {}): void {
    if (this.n === 0) return;
    const i = Math.min(this.n - 1, Math.max(0, index));
    const hadRange = this.range;
    if (opts.extend) this.range = { anchor: this.range?.anchor ?? this.current, focus: i };
    else this.range = null;
    const prev = this.current;
    this.current = i;
    if (this.selectedKey && this.pointByKey(this.selectedKey)?.slice_index !== i) this.selectedKey = null;
    if (this.slices.failed(i)) this.slices.retry(i);
    this.slices.focus(i);
    if (hadRange || this.range) this.updateRows();
    else {
      this.updateRow(prev);
      this.updateRow(i);
    }
    this.dom.rows[i]?.scrollIntoView?.({ block: "nearest" });
    this.updateSliceInfo();
    this.updateLabelPanel();
    this.updatePointsPanel();
    this.updateReference();
    this.requestRender();
  }

  private sliceLoaded(i: number): void {
    this.dom.rows[i]?.classList.add("is-loaded");
    if (i === this.current) this.requestRender();
  }

  // ------------------------------------------------------------ labels

  toggleLabel(index: number): void {
    const code = this.subtypes[index];
    if (code === undefined) return;
    if (!this.guardEdit()) return;
    const patch = toggleCode(this.labels, this.targets, code, this.subtypes);
    const added = [...patch.values()].some((codes) => codes.includes(code));
    if (added) this.setArmed(code);
    this.commitLabels(patch);
  }

  markNone(): void {
    if (!this.guardEdit()) return;
    this.commitLabels(setNone(this.labels, this.targets));
  }

  copyLabels(): void {
    if (!this.guardEdit()) return;
    const patch = this.range
      ? copyLabels(this.labels, this.range.anchor, rangeSlices(this.range))
      : copyPrevious(this.labels, this.current);
    if (patch === null) {
      this.flash(this.range ? "The anchor slice of the range is not labeled." : "The previous slice is not labeled.");
      return;
    }
    this.commitLabels(patch);
  }

  private commitLabels(patch: LabelPatch): void {
    if (patch.size === 0) return;
    this.labels = applyPatch(this.labels, patch);
    if (this.status === "not_started") this.status = "in_progress";
    void this.queue.enqueue(new LabelsWrite(this.readUrl, patch.keys(), this.current, (i) => this.labels.get(i)));
    for (const i of patch.keys()) this.updateRow(i);
    this.updateLabelPanel();
    this.updateProgress();
    this.updateCaseInfo();
  }

  // ------------------------------------------------------------ points

  pointByKey(key: string): ClientPoint | undefined {
    return this.points.find((p) => p.key === key);
  }

  setArmed(code: string | null): void {
    this.armed = code && this.subtypes.includes(code) ? code : null;
    for (const [c, b] of this.dom.armedButtons) b.setAttribute("aria-pressed", String((this.armed ?? "") === c));
    this.dom.armedInfo.replaceChildren();
    const swatch = h(this.doc, "span", { class: "vw-dot", "aria-hidden": "true" });
    swatch.style.setProperty("--chip", subtypeColor(this.armed, this.subtypes));
    this.dom.armedInfo.append(swatch, `Point: ${this.armed ?? "no subtype"}`);
  }

  cycleArmed(): void {
    const order: (string | null)[] = [null, ...this.subtypes];
    const i = order.indexOf(this.armed);
    this.setArmed(order[(i + 1) % order.length] ?? null);
  }

  /** Add a point at image coordinates on the current slice. */
  addPoint(x: number, y: number): ClientPoint | null {
    if (!this.guardEdit()) return null;
    if (!insideImage(x, y, this.columns, this.rows)) return null;
    const point: ClientPoint = {
      key: `new-${++this.pointSeq}`,
      id: null,
      slice_index: this.current,
      x: round2(x),
      y: round2(y),
      subtype: this.armed,
    };
    this.points.push(point);
    this.selectedKey = point.key;
    void this.queue.enqueue(
      createPointWrite(this.readUrl, point, {
        onError: (e) => {
          this.points = this.points.filter((p) => p !== point);
          if (this.selectedKey === point.key) this.selectedKey = null;
          this.flash(`Point not saved: ${e.message}`);
          this.pointsChanged(point.slice_index);
        },
      }),
    );
    this.pointsChanged(point.slice_index);
    return point;
  }

  /** A create for this point is still waiting (its body will carry the latest values). */
  private createWaiting(point: ClientPoint): boolean {
    return point.id === null && this.queue.waiting().some((op) => op.kind === "point-create" && op.tag === point.key);
  }

  private savePoint(point: ClientPoint): void {
    if (this.createWaiting(point)) return;
    void this.queue.enqueue(updatePointWrite(this.readUrl, point, (e) => this.flash(`Point not saved: ${e.message}`)));
  }

  movePoint(key: string, x: number, y: number): void {
    const point = this.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    const [cx, cy] = clampToImage(x, y, this.columns, this.rows);
    point.x = round2(cx);
    point.y = round2(cy);
    this.savePoint(point);
    this.pointsChanged(point.slice_index);
  }

  setPointSubtype(key: string, code: string | null): void {
    const point = this.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    point.subtype = code && this.subtypes.includes(code) ? code : null;
    this.savePoint(point);
    this.pointsChanged(point.slice_index);
  }

  deletePoint(key: string): void {
    const point = this.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    this.points = this.points.filter((p) => p !== point);
    if (this.selectedKey === key) this.selectedKey = null;
    const wasWaiting = this.createWaiting(point);
    this.queue.cancelWaiting((op) => op.tag === key);
    if (!wasWaiting) {
      void this.queue.enqueue(deletePointWrite(this.readUrl, point, (e) => this.flash(`Point not deleted: ${e.message}`)));
    }
    this.pointsChanged(point.slice_index);
  }

  selectPoint(key: string | null): void {
    this.selectedKey = key;
    this.updatePointsPanel();
    this.requestRender();
  }

  private pointsChanged(slice: number): void {
    this.updateRow(slice);
    this.updatePointsPanel();
    this.requestRender();
  }

  // ------------------------------------------------------------ exclusion / submit / navigation

  exclude(reason: string, note: string): void {
    if (!this.guardEdit()) return;
    if (!reason) {
      this.flash("Choose a reason for the exclusion.");
      return;
    }
    const before = { excluded: this.excluded, reason: this.exclusionReason, note: this.exclusionNote };
    this.excluded = true;
    this.exclusionReason = reason;
    this.exclusionNote = note;
    this.dom.excludeForm.hidden = true;
    void this.queue.enqueue(
      simpleWrite(this.readUrl, "exclude", { reason, note }, {
        onError: (e) => {
          this.excluded = before.excluded;
          this.exclusionReason = before.reason;
          this.exclusionNote = before.note;
          this.flash(`Not excluded: ${e.message}`);
          this.updateExclusion();
        },
      }),
    );
    this.updateExclusion();
  }

  include(): void {
    if (!this.guardEdit()) return;
    const before = { reason: this.exclusionReason, note: this.exclusionNote };
    this.excluded = false;
    void this.queue.enqueue(
      simpleWrite(this.readUrl, "include", {}, {
        onError: (e) => {
          this.excluded = true;
          this.exclusionReason = before.reason;
          this.exclusionNote = before.note;
          this.flash(`Exclusion not undone: ${e.message}`);
          this.updateExclusion();
        },
      }),
    );
    this.updateExclusion();
  }

  async submit(): Promise<boolean> {
    if (!this.guardEdit()) return false;
    const unlabeled = summarize(this.labels, this.n, this.subtypes).unlabeled.length;
    if (unlabeled > 0 && !this.excluded) {
      const ok = this.ask(`${unlabeled} slice${unlabeled === 1 ? " is" : "s are"} not labeled yet. Submit anyway?`);
      if (!ok) return false;
    }
    this.submitting = true;
    this.updateEditable();
    await this.queue.flush();
    const result = await this.queue.enqueue(simpleWrite(this.readUrl, "submit", {}));
    if (!result.ok) {
      this.submitting = false;
      this.updateEditable();
      if (result.reason === "error") this.flash(`Not submitted: ${result.error.message}`);
      return false;
    }
    this.status = "submitted";
    this.heartbeat?.stop();
    const body = (result.body ?? {}) as { next_url?: string | null };
    this.updateCaseInfo();
    this.navigate(body.next_url || this.read.queue.next_url || this.queueUrl);
    return true;
  }

  async goCase(direction: 1 | -1): Promise<void> {
    const url = direction > 0 ? this.read.queue.next_url : this.read.queue.previous_url;
    if (!url) {
      this.flash(direction > 0 ? "This is the last case in your queue." : "This is the first case in your queue.");
      return;
    }
    if (this.queue.pending > 0 && !this.queue.blocked) {
      if (this.queue.status.state === "offline") {
        if (!this.ask("Some changes are not saved yet (offline). Leave anyway?")) return;
      } else {
        this.flash("Saving…");
        await this.queue.flush();
      }
    }
    this.navigate(url);
  }

  private navigate(url: string): void {
    if (this.deps.navigate) this.deps.navigate(url);
    else this.win?.location.assign(url);
  }

  private ask(message: string): boolean {
    if (this.deps.confirm) return this.deps.confirm(message);
    return this.win?.confirm(message) ?? true;
  }

  // ------------------------------------------------------------ window / view

  setPreset(name: PresetName): void {
    const p = PRESETS[name];
    this.level = p.level;
    this.width = p.width;
    this.preset = name;
    this.updateWindowInfo();
    this.requestRender();
  }

  setWindow(level: number, width: number): void {
    this.level = level;
    this.width = Math.max(1, width);
    this.preset = null;
    for (const [name, p] of Object.entries(PRESETS) as [PresetName, (typeof PRESETS)[PresetName]][]) {
      if (p.level === this.level && p.width === this.width && VIEWER_PRESETS.includes(name)) this.preset = name;
    }
    this.updateWindowInfo();
    this.requestRender();
  }

  fit(): void {
    this.transform = fitTransform(this.viewW, this.viewH, this.columns, this.rows, this.aspect, FIT_MARGIN);
    this.userView = false;
    this.updateZoomInfo();
    this.requestRender();
  }

  zoom(factor: number, sx = this.viewW / 2, sy = this.viewH / 2): void {
    this.transform = zoomAbout(this.transform, factor, sx, sy);
    this.userView = true;
    this.updateZoomInfo();
    this.requestRender();
  }

  pan(dx: number, dy: number): void {
    this.transform = panBy(this.transform, dx, dy);
    this.userView = true;
    this.requestRender();
  }

  /** Canvas size changed (CSS px); keeps a user zoom/pan, refits otherwise. */
  measure(): void {
    const canvas = this.dom.canvas;
    const rect = canvas.getBoundingClientRect?.();
    const w = Math.round(rect?.width || canvas.clientWidth || 0) || this.columns || 512;
    const h = Math.round(rect?.height || canvas.clientHeight || 0) || this.rows || 512;
    const dpr = this.deps.devicePixelRatio ?? this.win?.devicePixelRatio ?? 1;
    if (w === this.viewW && h === this.viewH && dpr === this.dpr) return;
    const oldW = this.viewW;
    const oldH = this.viewH;
    this.viewW = w;
    this.viewH = h;
    this.dpr = dpr || 1;
    canvas.width = Math.round(w * this.dpr);
    canvas.height = Math.round(h * this.dpr);
    if (this.userView && oldW > 0) {
      this.transform = recenter(this.transform, oldW, oldH, w, h);
      this.requestRender();
    } else this.fit();
  }

  /** Screen (canvas CSS px) position of a mouse event. */
  private eventPoint(e: MouseEvent): [number, number] {
    const rect = this.dom.canvas.getBoundingClientRect?.();
    const sx = e.clientX - (rect?.left ?? 0);
    const sy = e.clientY - (rect?.top ?? 0);
    return Number.isFinite(sx) && Number.isFinite(sy) ? [sx, sy] : [this.viewW / 2, this.viewH / 2];
  }

  // ------------------------------------------------------------ rendering

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
    const slice = this.slices.get(this.current);
    const image = slice ? this.image.update(slice, this.current, this.level, this.width) : null;
    const markers: MarkerSpec[] = [];
    if (this.showRefPoints) {
      (this.read.adjudication?.reads ?? []).forEach((r, ri) => {
        for (const p of r.points) {
          if (p.slice_index !== this.current) continue;
          markers.push({ x: p.x, y: p.y, color: subtypeColor(p.subtype, this.subtypes), reference: true, label: `${String.fromCharCode(65 + ri)}${p.subtype ? ` ${p.subtype}` : ""}` });
        }
      });
    }
    for (const p of this.points) {
      if (p.slice_index !== this.current) continue;
      markers.push({ x: p.x, y: p.y, color: subtypeColor(p.subtype, this.subtypes), label: p.subtype ?? "", selected: p.key === this.selectedKey });
    }
    let message: string | undefined;
    if (!slice) message = this.slices.failed(this.current) ? "Could not load this slice — press R to retry" : "Loading…";
    drawFrame(ctx, {
      cssWidth: this.viewW,
      cssHeight: this.viewH,
      dpr: this.dpr,
      transform: this.transform,
      image,
      imageWidth: slice?.columns ?? this.columns,
      imageHeight: slice?.rows ?? this.rows,
      markers,
      ...(message ? { message } : {}),
    });
  }

  // ------------------------------------------------------------ DOM updates

  refreshAll(): void {
    this.updateCaseInfo();
    this.updateRows();
    this.updateProgress();
    this.updateSliceInfo();
    this.updateWindowInfo();
    this.updateZoomInfo();
    this.updateLabelPanel();
    this.setArmed(this.armed);
    this.updatePointsPanel();
    this.updateReference();
    this.updateExclusion();
    this.updateEditable();
    this.showSaveStatus(this.queue.status);
    this.requestRender();
  }

  private updateRow(i: number): void {
    const row = this.dom.rows[i];
    if (!row) return;
    let points = 0;
    for (const p of this.points) if (p.slice_index === i) points++;
    updateRow(
      row,
      {
        codes: this.labels.get(i),
        points,
        current: i === this.current,
        inRange: inRange(this.range, i),
        loaded: this.slices.has(i),
        ...(this.refLabels.length ? { refs: this.refLabels.map((m) => m.get(i)) } : {}),
      },
      this.subtypes,
    );
  }

  private updateRows(): void {
    for (let i = 0; i < this.n; i++) this.updateRow(i);
  }

  private updateProgress(): void {
    const s = summarize(this.labels, this.n, this.subtypes);
    this.dom.progressText.textContent = `Labeled ${s.labeled} / ${s.total} slices${s.positive ? ` · haemorrhage on ${s.positive}` : ""}`;
    this.dom.progressBar.max = Math.max(1, s.total);
    this.dom.progressBar.value = s.labeled;
    this.dom.root.dataset["labeled"] = `${s.labeled}/${s.total}`;
  }

  private updateSliceInfo(): void {
    this.dom.sliceInfo.textContent = `${this.current + 1} / ${this.n}`;
    this.dom.zInfo.textContent = formatZ(this.read.slices[this.current]?.z);
    this.dom.root.dataset["slice"] = String(this.current);
  }

  private updateWindowInfo(): void {
    const name = this.preset ? `${PRESETS[this.preset].label} · ` : "";
    this.dom.wlInfo.textContent = `${name}W ${this.width} L ${this.level}`;
    for (const [p, b] of this.dom.presetButtons) b.setAttribute("aria-pressed", String(p === this.preset));
  }

  private updateZoomInfo(): void {
    this.dom.zoomInfo.textContent = `Zoom ${Math.round(this.transform.scale * 100)}%`;
  }

  private updateLabelPanel(): void {
    const codes = this.labels.get(this.current);
    const targets = this.targets;
    this.dom.labelsTitle.textContent =
      targets.length > 1 ? `Slices ${targets[0]! + 1}–${targets[targets.length - 1]! + 1} labels` : `Slice ${this.current + 1} labels`;
    for (const [code, b] of this.dom.labelButtons) {
      const all = targets.every((i) => this.labels.get(i)?.includes(code));
      b.setAttribute("aria-pressed", String(all));
    }
    this.dom.noneButton.setAttribute("aria-pressed", String(targets.every((i) => this.labels.get(i)?.length === 0)));
    this.dom.currentLabels.replaceChildren(chips(this.doc, codes, this.subtypes));
    const r = this.dom.rangeInfo;
    if (this.range) {
      r.hidden = false;
      r.replaceChildren(
        `Range ${targets[0]! + 1}–${targets[targets.length - 1]! + 1} (${targets.length} slices): label keys apply to all. `,
        h(this.doc, "button", { type: "button", class: "vw-btn vw-btn-sm", "data-action": "clear-range", title: "Clear the range (Esc)" }, "Clear"),
      );
    } else {
      r.hidden = true;
      r.replaceChildren();
    }
  }

  private updatePointsPanel(): void {
    const here = this.points.filter((p) => p.slice_index === this.current);
    renderPointsList(this.dom.pointsList, here, { subtypes: this.subtypes, editable: this.canEdit, selectedKey: this.selectedKey });
    const total = this.points.length;
    this.dom.pointsTotal.textContent = `${here.length} on this slice · ${total} in total`;
  }

  private updateReference(): void {
    const body = this.dom.referenceBody;
    if (!body) return;
    const reads = this.read.adjudication?.reads ?? [];
    const table = h(this.doc, "table", { class: "vw-ref-table" });
    reads.forEach((r, ri) => {
      const pts = r.points.filter((p) => p.slice_index === this.current).length;
      table.append(
        h(
          this.doc,
          "tr",
          {},
          h(this.doc, "th", { scope: "row" }, r.label),
          h(this.doc, "td", {}, chips(this.doc, this.refLabels[ri]?.get(this.current), this.subtypes)),
          h(this.doc, "td", { class: "vw-muted" }, pts ? `◎${pts}` : ""),
        ),
      );
    });
    body.replaceChildren(table);
  }

  private updateExclusion(): void {
    const box = this.dom.exclusion;
    box.replaceChildren();
    if (this.excluded) {
      const label = this.read.exclusion_reasons.find((r) => r.code === this.exclusionReason)?.label ?? this.exclusionReason;
      box.append(
        h(this.doc, "p", { class: "vw-excluded" }, `Excluded: ${label}${this.exclusionNote ? ` — ${this.exclusionNote}` : ""}`),
        h(this.doc, "button", { type: "button", class: "vw-btn", "data-action": "include", disabled: !this.canEdit, title: "Undo the exclusion" }, "Undo exclusion"),
      );
      this.dom.excludeForm.hidden = true;
    } else {
      box.append(
        h(this.doc, "button", { type: "button", class: "vw-btn", "data-action": "exclude-open", disabled: !this.canEdit, title: "Exclude this case from labeling" }, "Exclude case…"),
      );
    }
    this.updateBanner();
  }

  private updateEditable(): void {
    const can = this.canEdit;
    this.dom.root.dataset["editable"] = String(can);
    for (const b of this.dom.labelButtons.values()) b.disabled = !can;
    this.dom.noneButton.disabled = !can;
    this.dom.copyButton.disabled = !can;
    for (const b of this.dom.armedButtons.values()) b.disabled = !can;
    this.dom.submitButton.disabled = !can;
    this.dom.submitButton.hidden = !this.editableRead;
    this.dom.prevCase.disabled = !this.read.queue.previous_url;
    this.dom.nextCase.disabled = !this.read.queue.next_url;
    this.updateExclusion();
    this.updatePointsPanel();
  }

  private updateCaseInfo(): void {
    this.dom.readBadge.textContent = statusLabel({ status: this.status, kind: this.read.kind });
    this.dom.readBadge.dataset["status"] = this.status;
  }

  private updateBanner(): void {
    const b = this.dom.banner;
    let text = "";
    if (this.status === "submitted" || !this.read.editable) text = "Submitted — read-only";
    else if (this.excluded) text = "Case excluded";
    b.textContent = text;
    b.hidden = !text;
  }

  private showSaveStatus(s: SaveStatus): void {
    const el = this.dom.save;
    el.dataset["state"] = s.state;
    el.textContent = s.state === "idle" ? (this.editableRead ? "All changes are saved automatically" : "") : s.message;
    el.title = s.state === "error" ? s.message : "";
  }

  private showConflict(error: ApiError): void {
    this.dom.conflictText.textContent = "This read was changed in another tab or window. Reload to see the latest version.";
    if (error.detail && !/changed/i.test(error.detail)) this.dom.conflictText.append(` (${error.detail})`);
    this.dom.conflict.hidden = false;
    this.dom.root.dataset["conflict"] = "";
    this.heartbeat?.stop();
    this.updateEditable();
    this.dom.conflict.querySelector<HTMLButtonElement>("[data-action=reload]")?.focus();
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

  private guardEdit(): boolean {
    if (this.canEdit) return true;
    if (this.queue.blocked) this.flash("Reload the page: this read was changed elsewhere.");
    else if (this.submitting) this.flash("Submitting…");
    else this.flash("This read is submitted: read-only.");
    return false;
  }

  // ------------------------------------------------------------ events

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

  private bind(): void {
    const { canvas, root } = this.dom;
    this.listen(this.doc, "keydown", (e: KeyboardEvent) => this.onKeyDown(e));
    this.listen(this.doc, "keyup", (e: KeyboardEvent) => {
      const a = this.keys.keyUp(e);
      if (a?.type === "space") this.dom.stage.classList.remove("is-pan-ready");
    });
    if (this.win) {
      this.listen(this.win, "blur", () => {
        this.keys.reset();
        this.dom.stage.classList.remove("is-pan-ready");
      });
      this.listen(this.win, "online", () => this.queue.retryNow());
      this.listen(this.win, "beforeunload", (e: BeforeUnloadEvent) => {
        if (this.queue.pending > 0 && !this.queue.blocked && !this.submitting) {
          e.preventDefault();
          e.returnValue = "";
        }
      });
      this.listen(this.win, "resize", () => this.measure());
    }
    const RO = (this.win as (Window & { ResizeObserver?: typeof ResizeObserver }) | null)?.ResizeObserver;
    if (RO) {
      const ro = new RO(() => this.measure());
      ro.observe(this.dom.stage);
      this.disposers.push(() => ro.disconnect());
    }

    this.listen(root, "click", (e: MouseEvent) => this.onClick(e));
    this.listen(root, "change", (e: Event) => this.onChange(e));
    this.listen(this.dom.excludeForm, "submit", (e: SubmitEvent) => {
      e.preventDefault();
      this.exclude(this.dom.excludeReason.value, this.dom.excludeNote.value.trim());
    });

    this.listen(canvas, "pointerdown", (e: PointerEvent) => this.onPointerDown(e));
    this.listen(canvas, "pointermove", (e: PointerEvent) => this.onPointerMove(e));
    this.listen(canvas, "pointerup", (e: PointerEvent) => this.onPointerUp(e));
    this.listen(canvas, "pointercancel", () => this.cancelGesture());
    this.listen(canvas, "contextmenu", (e: MouseEvent) => e.preventDefault());
    this.listen(canvas, "auxclick", (e: MouseEvent) => e.preventDefault());
    this.listen(canvas, "mousedown", (e: MouseEvent) => {
      if (e.button === 1) e.preventDefault(); // no middle-click autoscroll
    });
    this.listen(this.dom.stage, "wheel", (e: WheelEvent) => this.onWheel(e), { passive: false });
  }

  destroy(): void {
    this.destroyed = true;
    for (const d of this.disposers.splice(0)) d();
    this.heartbeat?.stop();
    this.slices.dispose();
    if (this.hintTimer) clearTimeout(this.hintTimer);
  }

  private onKeyDown(e: KeyboardEvent): void {
    this.heartbeat?.touch();
    if (!this.dom.conflict.hidden) return; // blocked until reload
    if (!this.dom.keymap.hidden) {
      if (e.key === "Escape" || e.key === "?") {
        e.preventDefault();
        this.toggleKeymap(false);
      }
      return;
    }
    const action = this.keys.keyDown(e);
    if (!action) return;
    e.preventDefault();
    this.perform(action);
  }

  /** Run a keymap action (public for tests and toolbar buttons). */
  perform(action: Action): void {
    if (action.type !== "windowChord") this.dom.stage.classList.remove("is-chord");
    switch (action.type) {
      case "label":
        this.toggleLabel(action.index);
        break;
      case "none":
        this.markNone();
        break;
      case "copyPrevious":
        this.copyLabels();
        break;
      case "slice":
        this.setSlice(this.current + action.delta, { extend: action.extend });
        break;
      case "sliceEdge":
        this.setSlice(action.edge === "first" ? 0 : this.n - 1, { extend: action.extend });
        break;
      case "preset": {
        const name = VIEWER_PRESETS[action.index];
        if (name) this.setPreset(name);
        break;
      }
      case "windowChord":
        this.dom.stage.classList.add("is-chord");
        this.flash(`Window: press 1–${VIEWER_PRESETS.length} (${VIEWER_PRESETS.map((p, i) => `${i + 1} ${PRESETS[p].label}`).join(", ")})`, 1500);
        break;
      case "chordCancelled":
        this.flash("", 1);
        break;
      case "zoom":
        this.zoom(action.factor);
        break;
      case "fit":
        this.fit();
        break;
      case "resetView":
        this.fit();
        this.setPreset(DEFAULT_PRESET);
        if (this.slices.failed(this.current)) this.slices.retry(this.current);
        break;
      case "nextCase":
        void this.goCase(1);
        break;
      case "previousCase":
        void this.goCase(-1);
        break;
      case "help":
        this.toggleKeymap();
        break;
      case "escape":
        if (!this.dom.excludeForm.hidden) this.dom.excludeForm.hidden = true;
        else if (this.range) {
          this.range = null;
          this.updateRows();
          this.updateLabelPanel();
        } else if (this.selectedKey) this.selectPoint(null);
        break;
      case "deletePoint":
        if (this.selectedKey) this.deletePoint(this.selectedKey);
        break;
      case "cycleArmed":
        this.cycleArmed();
        break;
      case "submit":
        void this.submit();
        break;
      case "space":
        this.dom.stage.classList.toggle("is-pan-ready", action.down);
        break;
    }
  }

  toggleKeymap(open = this.dom.keymap.hidden): void {
    this.dom.keymap.hidden = !open;
    if (open) this.dom.keymap.querySelector<HTMLButtonElement>("[data-action=help-close]")?.focus();
  }

  private onClick(e: MouseEvent): void {
    const target = e.target instanceof Element ? e.target.closest<HTMLElement>("[data-action]") : null;
    if (!target || !this.root.contains(target)) return;
    const action = target.dataset["action"];
    const key = target.dataset["key"] ?? "";
    switch (action) {
      case "goto": {
        const i = Number(target.dataset["slice"]);
        if (Number.isInteger(i)) this.setSlice(i, { extend: e.shiftKey });
        break;
      }
      case "preset": {
        const p = target.dataset["preset"] as PresetName | undefined;
        if (p && p in PRESETS) this.setPreset(p);
        break;
      }
      case "zoom-in":
        this.zoom(1.25);
        break;
      case "zoom-out":
        this.zoom(0.8);
        break;
      case "fit":
        this.fit();
        break;
      case "prev-case":
        void this.goCase(-1);
        break;
      case "next-case":
        void this.goCase(1);
        break;
      case "help":
        this.toggleKeymap(true);
        break;
      case "help-close":
        this.toggleKeymap(false);
        break;
      case "label": {
        const i = this.subtypes.indexOf(target.dataset["code"] ?? "");
        if (i >= 0) this.toggleLabel(i);
        break;
      }
      case "none":
        this.markNone();
        break;
      case "copy":
        this.copyLabels();
        break;
      case "clear-range":
        this.perform({ type: "escape" });
        break;
      case "arm":
        this.setArmed(target.dataset["code"] || null);
        break;
      case "point-select":
        this.selectPoint(key);
        break;
      case "point-delete":
        this.deletePoint(key);
        break;
      case "exclude-open":
        if (this.guardEdit()) {
          this.dom.excludeForm.hidden = false;
          this.dom.excludeReason.focus();
        }
        break;
      case "exclude-cancel":
        this.dom.excludeForm.hidden = true;
        break;
      case "include":
        this.include();
        break;
      case "submit":
        void this.submit();
        break;
      case "reload":
        if (this.deps.reload) this.deps.reload();
        else this.win?.location.reload();
        break;
      default:
        return;
    }
    // Keep keyboard focus off buttons so Space (pan) and Enter do not re-click them.
    if (target instanceof HTMLButtonElement && action !== "help" && action !== "exclude-open") target.blur();
  }

  private onChange(e: Event): void {
    const target = e.target as HTMLElement | null;
    if (!target) return;
    if (target.dataset["action"] === "point-subtype" && target instanceof HTMLSelectElement) {
      this.setPointSubtype(target.dataset["key"] ?? "", target.value || null);
    } else if (target.dataset["action"] === "toggle-ref-points" && target instanceof HTMLInputElement) {
      this.showRefPoints = target.checked;
      this.requestRender();
    }
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    this.heartbeat?.touch();
    const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 400 : 1;
    const dy = e.deltaY * unit;
    if (e.ctrlKey || e.metaKey) {
      const [sx, sy] = this.eventPoint(e);
      this.zoom(Math.exp(-dy * 0.002), sx, sy);
      return;
    }
    // A mouse-wheel notch (>= 50 px) is one slice; small trackpad deltas accumulate.
    let steps = 0;
    if (Math.abs(dy) >= 50) {
      steps = Math.sign(dy);
      this.wheelAcc = 0;
    } else {
      this.wheelAcc += dy;
      if (Math.abs(this.wheelAcc) >= 30) {
        steps = Math.sign(this.wheelAcc);
        this.wheelAcc = 0;
      }
    }
    if (steps) this.setSlice(this.current + steps);
  }

  private onPointerDown(e: PointerEvent): void {
    this.heartbeat?.touch();
    if (!this.dom.conflict.hidden) return;
    const [sx, sy] = this.eventPoint(e);
    const hit = this.canEdit && (e.button === 0 || e.button === 2) ? hitTest(this.points, this.current, this.transform, sx, sy) : null;
    const mode = this.gesture.down({ button: e.button, sx, sy, space: this.keys.space, hitKey: hit?.key ?? null });
    if (!mode) return;
    if (e.button === 1) e.preventDefault(); // no autoscroll
    if (hit && e.button === 0) this.dragStart = { key: hit.key, x: hit.x, y: hit.y };
    this.dom.stage.classList.toggle("is-panning", mode === "pan");
    this.dom.stage.classList.toggle("is-windowing", mode === "window");
    try {
      this.dom.canvas.setPointerCapture?.(e.pointerId);
    } catch {
      /* happy-dom / synthetic events */
    }
  }

  private onPointerMove(e: PointerEvent): void {
    this.heartbeat?.touch();
    const [sx, sy] = this.eventPoint(e);
    if (!this.gesture.active) {
      const over = this.canEdit && hitTest(this.points, this.current, this.transform, sx, sy) !== null;
      this.dom.stage.classList.toggle("is-over-marker", over);
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
      const p = this.pointByKey(this.dragStart.key);
      if (p) {
        p.x = this.dragStart.x;
        p.y = this.dragStart.y;
      }
    }
    this.dragStart = null;
    this.gesture.cancel();
    this.endGestureClasses();
    this.requestRender();
  }

  private endGestureClasses(): void {
    this.dom.stage.classList.remove("is-panning", "is-windowing");
  }

  private applyGesture(effect: GestureEffect | null): void {
    if (!effect) return;
    switch (effect.type) {
      case "add": {
        const [x, y] = screenToImage(this.transform, effect.sx, effect.sy);
        if (!insideImage(x, y, this.columns, this.rows)) {
          this.selectPoint(null);
          break;
        }
        this.addPoint(x, y);
        break;
      }
      case "select":
        this.selectPoint(effect.key);
        break;
      case "deselect":
        this.selectPoint(null);
        break;
      case "drag":
      case "dragEnd": {
        const start = this.dragStart;
        const p = start && start.key === effect.key ? this.pointByKey(effect.key) : undefined;
        if (!start || !p) break;
        const [ddx, ddy] = screenDeltaToImage(this.transform, effect.dx, effect.dy);
        const [x, y] = clampToImage(start.x + ddx, start.y + ddy, this.columns, this.rows);
        if (effect.type === "drag") {
          p.x = x;
          p.y = y;
          this.selectedKey = p.key;
          this.requestRender();
        } else {
          this.dragStart = null;
          this.selectedKey = p.key;
          this.movePoint(p.key, x, y);
        }
        break;
      }
      case "delete":
        this.deletePoint(effect.key);
        break;
      case "pan":
        this.pan(effect.dx, effect.dy);
        break;
      case "window": {
        const w = windowDrag(this.level, this.width, effect.dx, effect.dy);
        this.setWindow(w.level, w.width);
        break;
      }
    }
  }
}
