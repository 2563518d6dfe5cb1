/**
 * Pure helpers of the aided read (no DOM): the model's case calls as table rows, the overlay and exemplars
 * of a slice, the small per-slice probability chart, a read's answer in words, and where a read's routes are.
 */
import { type CaseDoc, type ModelOutput, type ReadAnswer, SUBTYPE_NAMES } from "./model";

/** A probability as a percentage with one decimal, "—" when there is none. */
export function percentText(value: number | null | undefined): string {
  return typeof value === "number" && Number.isFinite(value) ? `${(100 * value).toFixed(1)} %` : "—";
}

export interface CallRow {
  label: string;
  probability: string;
  threshold: string;
  call: string;
  positive: boolean;
}

/** One row per label, in the model's order: probability, threshold and the call at it. */
export function callRows(model: ModelOutput): CallRow[] {
  return model.labels.map((label) => {
    const row = model.case[label];
    const call = row?.call;
    return {
      label,
      probability: percentText(row?.probability),
      threshold: percentText(row?.threshold),
      call: call === true ? "positive" : call === false ? "negative" : "—",
      positive: call === true,
    };
  });
}

/** The overlay of slice `index`, or null where the model marks no attention there. */
export function overlayAt(model: ModelOutput, index: number): string | null {
  return model.overlays.find((o) => o.index === index)?.url ?? null;
}

/** The exemplars of slice `index`; of every positive slice when `index` has none. */
export function exemplarsAt(model: ModelOutput, index: number): ModelOutput["exemplars"] {
  const here = model.exemplars.filter((e) => e.slice === index);
  return here.length ? here : model.exemplars;
}

/** The positive slice nearest to `index` (the first one to show the model's attention), or null. */
export function nearestOverlay(model: ModelOutput, index: number): number | null {
  let best: number | null = null;
  for (const o of model.overlays) {
    if (best === null || Math.abs(o.index - index) < Math.abs(best - index)) best = o.index;
  }
  return best;
}

export interface SliceChart {
  /** SVG polyline points of the probabilities (x: slice, y: probability 0 at the bottom). */
  points: string;
  /** y of the threshold line, or null. */
  threshold: number | null;
  /** The current slice's point. */
  marker: { x: number; y: number } | null;
}

/** The per-slice probability chart in a `width` x `height` box (2 px margin). */
export function sliceChart(values: number[], threshold: number | null, current: number, width = 240, height = 60): SliceChart {
  const m = 2;
  const x = (i: number) => m + (values.length > 1 ? (i * (width - 2 * m)) / (values.length - 1) : (width - 2 * m) / 2);
  const y = (p: number) => m + (1 - Math.min(Math.max(p, 0), 1)) * (height - 2 * m);
  const r = (v: number) => Math.round(v * 10) / 10;
  const points = values.map((p, i) => `${r(x(i))},${r(y(p))}`).join(" ");
  const value = values[current];
  return {
    points,
    threshold: threshold === null ? null : r(y(threshold)),
    marker: value === undefined ? null : { x: r(x(current)), y: r(y(value)) },
  };
}

/** "ICH present (Intraparenchymal), confidence 80" / "no ICH, confidence 60". */
export function answerText(read: ReadAnswer): string {
  if (!read.ich) return `no ICH, confidence ${read.confidence}`;
  const names = read.subtypes.map((code) => SUBTYPE_NAMES[code] ?? code);
  return `ICH present${names.length ? ` (${names.join(", ")})` : ""}, confidence ${read.confidence}`;
}

/** The base URL of a read's routes: its own `url`, or the task list's URL and its id. */
export function readBase(doc: CaseDoc, apiUrl: string): string {
  return doc.url ?? `${apiUrl}/${doc.id}`;
}

/** "Session 1 of 2 · " for a crossover read, "" otherwise; " · with the model's output" for an aided one. */
export function readLabel(doc: CaseDoc): { prefix: string; suffix: string } {
  const prefix = doc.sessions && doc.sessions > 1 && doc.session ? `Session ${doc.session} of ${doc.sessions} · ` : "";
  return { prefix, suffix: doc.modality === "aided" ? " · with the model's output" : "" };
}
