/**
 * The state of one read in the labeling viewer: what the server sent and
 * what the reader has changed since. No DOM and no requests: commands.ts
 * changes it, view.ts shows it.
 */
import { PRESETS, type PresetName } from "../lib/windowing";
import type { SaveQueue } from "./savequeue";
import { labelsFromApi, rangeSlices, type Codes, type SliceRange } from "./state";
import { aspectFromSpacing, type ViewTransform } from "./transform";
import type { ClientPoint, ReadData } from "./types";

export const DEFAULT_PRESET: PresetName = "brain";

/** The slice to open: the read's last_slice_index when it is a slice, else the first. */
export function startSlice(read: Pick<ReadData, "last_slice_index">, n: number): number {
  const last = read.last_slice_index;
  return typeof last === "number" && last >= 0 && last < n ? last : 0;
}

export class ViewerSession {
  readonly subtypes: readonly string[];
  readonly n: number;
  readonly rows: number;
  readonly columns: number;
  readonly aspect: number;
  /** Labels of the reference reads (adjudication), in the order of read.adjudication.reads. */
  readonly refLabels: Map<number, Codes>[];

  labels: Map<number, Codes>;
  points: ClientPoint[];
  current: number;
  range: SliceRange | null = null;
  armed: string | null = null;
  selectedKey: string | null = null;
  level: number = PRESETS[DEFAULT_PRESET].level;
  width: number = PRESETS[DEFAULT_PRESET].width;
  preset: PresetName | null = DEFAULT_PRESET;
  transform: ViewTransform;
  /** The reader zoomed or panned (a resize keeps the view instead of refitting). */
  userView = false;
  excluded: boolean;
  exclusionReason: string;
  exclusionNote: string;
  status: ReadData["status"];
  submitting = false;
  showRefPoints = true;

  constructor(
    readonly read: ReadData,
    readonly readUrl: string,
    readonly queueUrl: string,
    readonly queue: SaveQueue,
  ) {
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
    this.transform = { scale: 1, aspect: this.aspect, tx: 0, ty: 0 };
    this.current = startSlice(read, this.n);
  }

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

  pointByKey(key: string): ClientPoint | undefined {
    return this.points.find((p) => p.key === key);
  }

  /** The reader's points on one slice. */
  pointsOn(slice: number): ClientPoint[] {
    return this.points.filter((p) => p.slice_index === slice);
  }
}
