/**
 * The review document (`GET /api/v1/modeling/review/{series}/`) and the pure functions the review page
 * builds on: which slice to open, which maps a slice has, its prediction basis, the chart's series.
 */

export interface BasisEntry {
  rank: number;
  distance: number;
  entry: {
    id: number;
    label: string;
    block: string;
    filter: number;
    relevance: number;
    source_series?: number | null; // leads only
    source_slice_index?: number | null; // leads only
    patch_url: string;
    map_url: string;
  };
}

export interface MapDoc {
  id: number;
  index: number;
  label: string;
  arch: string;
  probability: number;
  area_percent: number | null;
  map_url: string;
  overlay_url: string;
  basis: BasisEntry[];
}

export interface ReviewDoc {
  series: {
    id: number;
    study: number;
    n_slices: number;
    rows: number;
    columns: number;
    slices: { index: number; id: number; image_url: string }[];
  };
  model?: { id: number; name: string; archs: string[]; is_active: boolean };
  job: { id: number; status: string; progress: number; message: string; error: string; url: string } | null;
  labels?: string[];
  thresholds?: Record<string, number | null>;
  case?: Record<string, { probability: number | null; positive: boolean | null }>;
  slice_probabilities?: number[][];
  maps?: MapDoc[];
  /** DICOM downloads of this series' ground truth and the job's findings and attention (leads and admins). */
  exports?: { label: string; url: string }[];
}

export const LABEL_COLORS: Readonly<Record<string, string>> = {
  IPH: "#ef4444",
  IVH: "#f59e0b",
  SDH: "#22c55e",
  EDH: "#3b82f6",
  SAH: "#a855f7",
  ANY: "#111827",
};

export function ready(doc: ReviewDoc): boolean {
  return doc.job?.status === "succeeded" && Array.isArray(doc.slice_probabilities);
}

/** The slice to open first: the most probable "any ICH" slice (the middle slice without predictions). */
export function initialSlice(doc: ReviewDoc): number {
  const probs = doc.slice_probabilities;
  const labels = doc.labels ?? [];
  const any = labels.indexOf("ANY");
  if (!probs || probs.length === 0 || any < 0) return Math.floor(doc.series.n_slices / 2);
  let best = 0;
  probs.forEach((row, i) => {
    if ((row[any] ?? 0) > (probs[best]?.[any] ?? 0)) best = i;
  });
  return best;
}

export function mapsOnSlice(doc: ReviewDoc, index: number): MapDoc[] {
  return (doc.maps ?? []).filter((m) => m.index === index);
}

/** The map to show: the chosen label's when the slice has one, else "ANY", else the first. */
export function pickMap(maps: MapDoc[], label: string | null): MapDoc | null {
  return maps.find((m) => m.label === label) ?? maps.find((m) => m.label === "ANY") ?? maps[0] ?? null;
}

/** Slices that have at least one map, in order (for jumping between explained slices). */
export function explainedSlices(doc: ReviewDoc): number[] {
  return [...new Set((doc.maps ?? []).map((m) => m.index))].sort((a, b) => a - b);
}

export interface ChartSeries {
  label: string;
  color: string;
  values: number[];
  threshold: number | null;
}

export function chartSeries(doc: ReviewDoc): ChartSeries[] {
  const probs = doc.slice_probabilities ?? [];
  return (doc.labels ?? []).map((label, c) => ({
    label,
    color: LABEL_COLORS[label] ?? "#6b7280",
    values: probs.map((row) => row[c] ?? 0),
    threshold: doc.thresholds?.[label] ?? null,
  }));
}

export function percent(value: number | null | undefined, digits = 1): string {
  return typeof value === "number" && Number.isFinite(value) ? `${(100 * value).toFixed(digits)} %` : "—";
}

export function callText(positive: boolean | null | undefined): string {
  if (positive === true) return "positive";
  if (positive === false) return "negative";
  return "no decision";
}
