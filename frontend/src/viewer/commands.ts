/**
 * Commands of the labeling viewer: what a reader does (label, place points,
 * exclude, submit, change case, plus the viewing commands of browse.ts).
 * Each one changes the {@link ViewerSession}, queues the write for the
 * server and asks the {@link ViewerView} to show the result. Input wiring
 * lives in input.ts, the meaning of each key and button in actions.ts.
 */
import type { ApiError } from "../lib/api";
import { BrowseCommands } from "./browse";
import type { Heartbeat } from "./heartbeat";
import type { ViewerSession } from "./session";
import type { SliceCache } from "./slices";
import { applyPatch, copyLabels, copyPrevious, rangeSlices, setNone, summarize, toggleCode, type LabelPatch } from "./state";
import { clampToImage, insideImage } from "./transform";
import type { ClientPoint } from "./types";
import type { ViewerView } from "./view";
import { LabelsWrite, createPointWrite, deletePointWrite, simpleWrite, updatePointWrite } from "./writes";

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

/** What the commands need from the page around them (real browser by default). */
export interface CommandHooks {
  navigate?: (url: string) => void;
  reload?: () => void;
  confirm?: (message: string) => boolean;
}

export class ViewerCommands extends BrowseCommands {
  private pointSeq = 0;

  constructor(
    s: ViewerSession,
    view: ViewerView,
    slices: SliceCache,
    private readonly heartbeat: Heartbeat | null,
    private readonly hooks: CommandHooks = {},
    private readonly win: Window | null = null,
  ) {
    super(s, view, slices);
  }

  // ------------------------------------------------------------ labels

  toggleLabel(index: number): void {
    const s = this.s;
    const code = s.subtypes[index];
    if (code === undefined) return;
    if (!this.guardEdit()) return;
    const patch = toggleCode(s.labels, s.targets, code, s.subtypes);
    const added = [...patch.values()].some((codes) => codes.includes(code));
    if (added) this.setArmed(code);
    this.commitLabels(patch);
  }

  /** Toggle a subtype by its code (a label button). */
  toggleCode(code: string): void {
    const i = this.s.subtypes.indexOf(code);
    if (i >= 0) this.toggleLabel(i);
  }

  markNone(): void {
    if (!this.guardEdit()) return;
    this.commitLabels(setNone(this.s.labels, this.s.targets));
  }

  copyLabels(): void {
    if (!this.guardEdit()) return;
    const { labels, range, current } = this.s;
    const patch = range ? copyLabels(labels, range.anchor, rangeSlices(range)) : copyPrevious(labels, current);
    if (patch === null) {
      this.view.flash(range ? "The anchor slice of the range is not labeled." : "The previous slice is not labeled.");
      return;
    }
    this.commitLabels(patch);
  }

  private commitLabels(patch: LabelPatch): void {
    if (patch.size === 0) return;
    const s = this.s;
    s.labels = applyPatch(s.labels, patch);
    if (s.status === "not_started") s.status = "in_progress";
    void s.queue.enqueue(new LabelsWrite(s.readUrl, patch.keys(), s.current, (i) => s.labels.get(i)));
    this.view.labelsChanged(patch.keys());
  }

  // ------------------------------------------------------------ points

  setArmed(code: string | null): void {
    this.s.armed = code && this.s.subtypes.includes(code) ? code : null;
    this.view.armedChanged();
  }

  cycleArmed(): void {
    const order: (string | null)[] = [null, ...this.s.subtypes];
    const i = order.indexOf(this.s.armed);
    this.setArmed(order[(i + 1) % order.length] ?? null);
  }

  /** Add a point at image coordinates on the current slice. */
  addPoint(x: number, y: number): ClientPoint | null {
    const s = this.s;
    if (!this.guardEdit()) return null;
    if (!insideImage(x, y, s.columns, s.rows)) return null;
    const point: ClientPoint = { key: `new-${++this.pointSeq}`, id: null, slice_index: s.current, x: round2(x), y: round2(y), subtype: s.armed };
    s.points.push(point);
    s.selectedKey = point.key;
    void s.queue.enqueue(
      createPointWrite(s.readUrl, point, {
        onError: (e) => {
          s.points = s.points.filter((p) => p !== point);
          if (s.selectedKey === point.key) s.selectedKey = null;
          this.view.flash(`Point not saved: ${e.message}`);
          this.view.pointsChanged(point.slice_index);
        },
      }),
    );
    this.view.pointsChanged(point.slice_index);
    return point;
  }

  /** A create for this point is still waiting (its body will carry the latest values). */
  private createWaiting(point: ClientPoint): boolean {
    return point.id === null && this.s.queue.waiting().some((op) => op.kind === "point-create" && op.tag === point.key);
  }

  private savePoint(point: ClientPoint): void {
    if (this.createWaiting(point)) return;
    void this.s.queue.enqueue(updatePointWrite(this.s.readUrl, point, (e) => this.view.flash(`Point not saved: ${e.message}`)));
  }

  movePoint(key: string, x: number, y: number): void {
    const point = this.s.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    const [cx, cy] = clampToImage(x, y, this.s.columns, this.s.rows);
    point.x = round2(cx);
    point.y = round2(cy);
    this.savePoint(point);
    this.view.pointsChanged(point.slice_index);
  }

  setPointSubtype(key: string, code: string | null): void {
    const point = this.s.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    point.subtype = code && this.s.subtypes.includes(code) ? code : null;
    this.savePoint(point);
    this.view.pointsChanged(point.slice_index);
  }

  deletePoint(key: string): void {
    const s = this.s;
    const point = s.pointByKey(key);
    if (!point || !this.guardEdit()) return;
    s.points = s.points.filter((p) => p !== point);
    if (s.selectedKey === key) s.selectedKey = null;
    const wasWaiting = this.createWaiting(point);
    s.queue.cancelWaiting((op) => op.tag === key);
    if (!wasWaiting) {
      void s.queue.enqueue(deletePointWrite(s.readUrl, point, (e) => this.view.flash(`Point not deleted: ${e.message}`)));
    }
    this.view.pointsChanged(point.slice_index);
  }

  deleteSelected(): void {
    if (this.s.selectedKey) this.deletePoint(this.s.selectedKey);
  }

  /** Show a point being dragged at (x, y) without saving it yet. */
  dragPoint(point: ClientPoint, x: number, y: number): void {
    point.x = x;
    point.y = y;
    this.s.selectedKey = point.key;
    this.view.requestRender();
  }

  /** A dragged point is let go at (x, y): select and save it. */
  dropPoint(point: ClientPoint, x: number, y: number): void {
    this.s.selectedKey = point.key;
    this.movePoint(point.key, x, y);
  }

  // ------------------------------------------------------------ exclusion / submit / navigation

  openExclude(): void {
    if (this.guardEdit()) this.view.showExcludeForm(true);
  }

  exclude(reason: string, note: string): void {
    if (!this.guardEdit()) return;
    if (!reason) {
      this.view.flash("Choose a reason for the exclusion.");
      return;
    }
    const s = this.s;
    const undo = this.exclusionUndo("Not excluded");
    s.excluded = true;
    s.exclusionReason = reason;
    s.exclusionNote = note;
    this.view.showExcludeForm(false);
    void s.queue.enqueue(simpleWrite(s.readUrl, "exclude", { reason, note }, { onError: undo }));
    this.view.exclusionChanged();
  }

  include(): void {
    if (!this.guardEdit()) return;
    const undo = this.exclusionUndo("Exclusion not undone", true);
    this.s.excluded = false;
    void this.s.queue.enqueue(simpleWrite(this.s.readUrl, "include", {}, { onError: undo }));
    this.view.exclusionChanged();
  }

  /** Puts reason and note back as they are now (and `excluded`) when the write fails, and says so. */
  private exclusionUndo(failure: string, excluded = this.s.excluded): (e: ApiError) => void {
    const s = this.s;
    const before = { reason: s.exclusionReason, note: s.exclusionNote };
    return (e) => {
      s.excluded = excluded;
      s.exclusionReason = before.reason;
      s.exclusionNote = before.note;
      this.view.flash(`${failure}: ${e.message}`);
      this.view.exclusionChanged();
    };
  }

  async submit(): Promise<boolean> {
    if (!this.guardEdit()) return false;
    const s = this.s;
    const unlabeled = summarize(s.labels, s.n, s.subtypes).unlabeled.length;
    if (unlabeled > 0 && !s.excluded) {
      const ok = this.ask(`${unlabeled} slice${unlabeled === 1 ? " is" : "s are"} not labeled yet. Submit anyway?`);
      if (!ok) return false;
    }
    s.submitting = true;
    this.view.editableChanged();
    await s.queue.flush();
    const result = await s.queue.enqueue(simpleWrite(s.readUrl, "submit", {}));
    if (!result.ok) {
      s.submitting = false;
      this.view.editableChanged();
      if (result.reason === "error") this.view.flash(`Not submitted: ${result.error.message}`);
      return false;
    }
    s.status = "submitted";
    this.heartbeat?.stop();
    const body = (result.body ?? {}) as { next_url?: string | null };
    this.view.statusChanged();
    this.navigate(body.next_url || s.read.queue.next_url || s.queueUrl);
    return true;
  }

  async goCase(direction: 1 | -1): Promise<void> {
    const { queue, read } = this.s;
    const url = direction > 0 ? read.queue.next_url : read.queue.previous_url;
    if (!url) {
      this.view.flash(direction > 0 ? "This is the last case in your queue." : "This is the first case in your queue.");
      return;
    }
    if (queue.pending > 0 && !queue.blocked) {
      if (queue.status.state === "offline") {
        if (!this.ask("Some changes are not saved yet (offline). Leave anyway?")) return;
      } else {
        this.view.flash("Saving…");
        await queue.flush();
      }
    }
    this.navigate(url);
  }

  /** The server refused a write (409): block editing until the page is reloaded. */
  conflict(error: ApiError): void {
    this.view.showConflict(error);
    this.heartbeat?.stop();
    this.view.editableChanged();
    this.view.focusReload();
  }

  reload(): void {
    if (this.hooks.reload) this.hooks.reload();
    else this.win?.location.reload();
  }

  private navigate(url: string): void {
    if (this.hooks.navigate) this.hooks.navigate(url);
    else this.win?.location.assign(url);
  }

  private ask(message: string): boolean {
    if (this.hooks.confirm) return this.hooks.confirm(message);
    return this.win?.confirm(message) ?? true;
  }

  /** True when editing is possible now; else says why in the hint line. */
  guardEdit(): boolean {
    if (this.s.canEdit) return true;
    if (this.s.queue.blocked) this.view.flash("Reload the page: this read was changed elsewhere.");
    else if (this.s.submitting) this.view.flash("Submitting…");
    else this.view.flash("This read is submitted: read-only.");
    return false;
  }
}
