/**
 * Commands that change what the viewer shows but never the read itself, so
 * they work on a read-only read too: move through slices, select, window,
 * zoom, pan, help. commands.ts adds the edits on top.
 */
import { PRESETS, type PresetName } from "../lib/windowing";
import { VIEWER_PRESETS } from "./keymap";
import { DEFAULT_PRESET, type ViewerSession } from "./session";
import type { SliceCache } from "./slices";
import { fitTransform, panBy, recenter, zoomAbout } from "./transform";
import type { ViewerView } from "./view";

const FIT_MARGIN = 8;

export class BrowseCommands {
  constructor(
    protected readonly s: ViewerSession,
    protected readonly view: ViewerView,
    protected readonly slices: SliceCache,
  ) {}

  // ------------------------------------------------------------ slices and selection

  setSlice(index: number, opts: { extend?: boolean } = {}): void {
    const s = this.s;
    if (s.n === 0) return;
    const i = Math.min(s.n - 1, Math.max(0, index));
    const hadRange = s.range;
    if (opts.extend) s.range = { anchor: s.range?.anchor ?? s.current, focus: i };
    else s.range = null;
    const prev = s.current;
    s.current = i;
    if (s.selectedKey && s.pointByKey(s.selectedKey)?.slice_index !== i) s.selectedKey = null;
    if (this.slices.failed(i)) this.slices.retry(i);
    this.slices.focus(i);
    this.view.sliceChanged(prev, Boolean(hadRange || s.range));
  }

  /** Move by `delta` slices (`extend`: grow the range). */
  step(delta: number, extend: boolean): void {
    this.setSlice(this.s.current + delta, { extend });
  }

  toEdge(edge: "first" | "last", extend: boolean): void {
    this.setSlice(edge === "first" ? 0 : this.s.n - 1, { extend });
  }

  selectPoint(key: string | null): void {
    this.s.selectedKey = key;
    this.view.selectionChanged();
  }

  showRefPoints(on: boolean): void {
    this.s.showRefPoints = on;
    this.view.requestRender();
  }

  /** Esc: close the exclusion form, else clear the range, else drop the selection. */
  escape(): void {
    if (this.view.excludeFormOpen) this.view.showExcludeForm(false);
    else if (this.s.range) {
      this.s.range = null;
      this.view.rangeChanged();
    } else if (this.s.selectedKey) this.selectPoint(null);
  }

  closeExclude(): void {
    this.view.showExcludeForm(false);
  }

  // ------------------------------------------------------------ window / view

  setPreset(name: PresetName): void {
    const p = PRESETS[name];
    this.s.level = p.level;
    this.s.width = p.width;
    this.s.preset = name;
    this.view.windowChanged();
  }

  /** The n-th viewer preset (F1–F5, W 1–5). */
  presetAt(index: number): void {
    const name = VIEWER_PRESETS[index];
    if (name) this.setPreset(name);
  }

  setWindow(level: number, width: number): void {
    const s = this.s;
    s.level = level;
    s.width = Math.max(1, width);
    s.preset = null;
    for (const [name, p] of Object.entries(PRESETS) as [PresetName, (typeof PRESETS)[PresetName]][]) {
      if (p.level === s.level && p.width === s.width && VIEWER_PRESETS.includes(name)) s.preset = name;
    }
    this.view.windowChanged();
  }

  fit(): void {
    const s = this.s;
    s.transform = fitTransform(this.view.viewW, this.view.viewH, s.columns, s.rows, s.aspect, FIT_MARGIN);
    s.userView = false;
    this.view.zoomChanged();
  }

  zoom(factor: number, sx = this.view.viewW / 2, sy = this.view.viewH / 2): void {
    this.s.transform = zoomAbout(this.s.transform, factor, sx, sy);
    this.s.userView = true;
    this.view.zoomChanged();
  }

  pan(dx: number, dy: number): void {
    this.s.transform = panBy(this.s.transform, dx, dy);
    this.s.userView = true;
    this.view.requestRender();
  }

  /** R: fit, the default window, and another try at a slice that failed to load. */
  resetView(): void {
    this.fit();
    this.setPreset(DEFAULT_PRESET);
    if (this.slices.failed(this.s.current)) this.slices.retry(this.s.current);
  }

  /** Canvas size changed (CSS px); keeps a user zoom/pan, refits otherwise. */
  measure(): void {
    const old = this.view.measure();
    if (!old) return;
    if (this.s.userView && old.width > 0) {
      this.s.transform = recenter(this.s.transform, old.width, old.height, this.view.viewW, this.view.viewH);
      this.view.requestRender();
    } else this.fit();
  }

  /** W pressed (`on`): show that the next digit picks a preset; `off`: stop showing it. */
  chord(on: boolean): void {
    this.view.stage("is-chord", on);
    if (on) this.view.flash(`Window: press 1–${VIEWER_PRESETS.length} (${VIEWER_PRESETS.map((p, i) => `${i + 1} ${PRESETS[p].label}`).join(", ")})`, 1500);
  }

  cancelChord(): void {
    this.view.flash("", 1);
  }

  /** Space held: the next drag pans. */
  panReady(down: boolean): void {
    this.view.stage("is-pan-ready", down);
  }

  toggleKeymap(open?: boolean): void {
    this.view.toggleKeymap(open);
  }
}
