/**
 * Labels model (no DOM): per-slice subtype codes.
 *
 *   labels.get(i) === undefined  -> slice i not labeled yet
 *   labels.get(i) = []           -> labeled "no haemorrhage"
 *   labels.get(i) = ["IPH", …]   -> haemorrhage of these subtypes ("any" = non-empty)
 *
 * Every operation returns a {@link LabelPatch}: only the slices whose codes
 * really change, with their new codes. The viewer applies the patch to its
 * state and sends exactly those slices to the server.
 */
import type { ApiLabels } from "./types";

export type Codes = readonly string[];
export type Labels = ReadonlyMap<number, Codes>;
export type LabelPatch = Map<number, Codes>;

/** Inclusive slice range selected with Shift (anchor = where it started). */
export interface SliceRange {
  anchor: number;
  focus: number;
}

export function labelsFromApi(raw: ApiLabels | null | undefined, nSlices: number, subtypes: readonly string[]): Map<number, Codes> {
  const out = new Map<number, Codes>();
  for (const [key, codes] of Object.entries(raw ?? {})) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= nSlices || !Array.isArray(codes)) continue;
    out.set(i, normalizeCodes(codes, subtypes));
  }
  return out;
}

/** Dedupe and order codes like `subtypes` (unknown codes keep their order, at the end). */
export function normalizeCodes(codes: Iterable<string>, subtypes: readonly string[]): string[] {
  const unique = Array.from(new Set(codes));
  const rank = (c: string): number => {
    const r = subtypes.indexOf(c);
    return r < 0 ? subtypes.length : r;
  };
  return unique
    .map((c, i) => [c, i] as const)
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
    .map(([c]) => c);
}

export function sameCodes(a: Codes | undefined, b: Codes | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((c, i) => c === b[i]);
}

/** Slices of a range, ascending. */
export function rangeSlices(range: SliceRange): number[] {
  const lo = Math.min(range.anchor, range.focus);
  const hi = Math.max(range.anchor, range.focus);
  const out: number[] = [];
  for (let i = lo; i <= hi; i++) out.push(i);
  return out;
}

export function inRange(range: SliceRange | null, i: number): boolean {
  if (!range) return false;
  return i >= Math.min(range.anchor, range.focus) && i <= Math.max(range.anchor, range.focus);
}

function patchOf(labels: Labels, slices: Iterable<number>, next: (current: Codes | undefined) => Codes | undefined): LabelPatch {
  const patch: LabelPatch = new Map();
  for (const i of slices) {
    const cur = labels.get(i);
    const n = next(cur);
    if (n !== undefined && !sameCodes(cur, n)) patch.set(i, n);
  }
  return patch;
}

/**
 * Toggle `code` on `slices`: when every slice already has it, remove it from
 * all of them (a slice left without codes becomes "no haemorrhage", []);
 * otherwise add it to all of them (keeping their other codes).
 */
export function toggleCode(labels: Labels, slices: readonly number[], code: string, subtypes: readonly string[]): LabelPatch {
  const allHave = slices.length > 0 && slices.every((i) => labels.get(i)?.includes(code) ?? false);
  return patchOf(labels, slices, (cur) =>
    allHave ? (cur ?? []).filter((c) => c !== code) : normalizeCodes([...(cur ?? []), code], subtypes),
  );
}

/** Mark `slices` as "no haemorrhage" (clears their subtypes). */
export function setNone(labels: Labels, slices: readonly number[]): LabelPatch {
  return patchOf(labels, slices, () => []);
}

/**
 * Copy the labels of slice `from` onto `targets` (`from` itself is skipped).
 * Returns null when `from` is not labeled (nothing to copy).
 */
export function copyLabels(labels: Labels, from: number, targets: readonly number[]): LabelPatch | null {
  const source = labels.get(from);
  if (source === undefined) return null;
  return patchOf(
    labels,
    targets.filter((i) => i !== from),
    () => [...source],
  );
}

/** C: copy the previous slice (index - 1) onto the current one. */
export function copyPrevious(labels: Labels, current: number): LabelPatch | null {
  if (current <= 0) return null;
  return copyLabels(labels, current - 1, [current]);
}

/** New labels with `patch` applied (the input is not changed). */
export function applyPatch(labels: Labels, patch: LabelPatch): Map<number, Codes> {
  const out = new Map(labels);
  for (const [i, codes] of patch) out.set(i, codes);
  return out;
}

/** `{"3": ["IPH"]}` for the PUT body. */
export function patchToApi(patch: ReadonlyMap<number, Codes>): ApiLabels {
  const out: ApiLabels = {};
  for (const [i, codes] of [...patch].sort((a, b) => a[0] - b[0])) out[String(i)] = [...codes];
  return out;
}

/** Derived "any haemorrhage" for one slice: true / false / undefined (not labeled). */
export function anyHaemorrhage(codes: Codes | undefined): boolean | undefined {
  return codes === undefined ? undefined : codes.length > 0;
}

export interface LabelSummary {
  labeled: number;
  positive: number;
  total: number;
  unlabeled: number[];
  /** Case-level "any": some slice has a subtype. */
  any: boolean;
  /** Subtypes present on at least one slice, ordered like `subtypes`. */
  subtypes: string[];
}

export function summarize(labels: Labels, nSlices: number, subtypes: readonly string[]): LabelSummary {
  let labeled = 0;
  let positive = 0;
  const unlabeled: number[] = [];
  const present = new Set<string>();
  for (let i = 0; i < nSlices; i++) {
    const codes = labels.get(i);
    if (codes === undefined) {
      unlabeled.push(i);
      continue;
    }
    labeled++;
    if (codes.length) positive++;
    for (const c of codes) present.add(c);
  }
  return { labeled, positive, total: nSlices, unlabeled, any: positive > 0, subtypes: normalizeCodes(present, subtypes) };
}
