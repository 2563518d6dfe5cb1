/**
 * Reader-study documents (as `ichweb/readerstudy/participant_api.py` sends them) and the pure helpers of
 * the task pages: paging through lists, the next open item, image coordinates, point editing, the read form.
 */

export type Point = [number, number];

export const SUBTYPES = ["IPH", "IVH", "SDH", "EDH", "SAH"] as const;
export const SUBTYPE_NAMES: Record<string, string> = {
  IPH: "Intraparenchymal",
  IVH: "Intraventricular",
  SDH: "Subdural",
  EDH: "Epidural",
  SAH: "Subarachnoid",
};

export type Modality = "unaided" | "aided";

/** A row of a task list, in the participant's order (case reads: the arm it leads to, and the session). */
export interface TaskRow {
  id: number;
  number: number;
  submitted?: boolean;
  has_reference?: boolean;
  url: string;
  modality?: Modality;
  session?: number;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface Neighbours {
  id: number;
  number: number;
  total: number;
  previous: number | null;
  next: number | null;
}

export interface ReadAnswer {
  ich: boolean;
  subtypes: string[];
  confidence: number;
}

/** Sequential design, on the unaided read: the case's aided read (open once the unaided read is submitted). */
export interface AidedLink {
  url: string;
  open: boolean;
  opened: boolean;
  submitted: boolean;
}

/** The study model's output on a case, frozen for its aided reads (`ichweb/readerstudy/aided_api.py`). */
export interface ModelOutput {
  label: string;
  labels: string[];
  case: Record<string, { probability: number | null; threshold: number | null; call: boolean | null }>;
  slice_probabilities: number[];
  overlays: { index: number; probability: number; url: string }[];
  exemplars: { number: number; slice: number; patch_url: string; map_url: string }[];
}

export interface CaseDoc extends Neighbours {
  n_slices: number;
  rows: number;
  columns: number;
  slices: { index: number; image_url: string }[];
  read: ReadAnswer | null;
  editable: boolean;
  /** The arm of this read (unaided when absent), its session and the study's number of sessions. */
  modality?: Modality;
  session?: number;
  sessions?: number;
  /** This read's own API URL (its `read` and `heartbeat` routes hang below it). */
  url?: string;
  /** Sequential, unaided read: its aided read. */
  aided?: AidedLink | null;
  /** Sequential, aided read: the case's unaided answer, locked. */
  unaided?: { read: ReadAnswer | null; editable: boolean; url: string } | null;
  /** Aided read: the model's output. */
  model?: ModelOutput;
}

export interface ItemDoc extends Neighbours {
  rows: number;
  columns: number;
  image_url: string;
}

export interface LocaliseDoc extends ItemDoc {
  points: Point[];
  submitted: boolean;
  editable: boolean;
}

export interface OptionDoc {
  letter: string;
  patch_url: string;
  map_url: string;
}

export interface QuestionDoc extends ItemDoc {
  overlay_url: string;
  options: OptionDoc[];
  choice: string | null;
  editable: boolean;
}

export interface PointSet {
  participant: string;
  points: Point[];
}

export interface ConsensusDoc extends ItemDoc {
  first: PointSet;
  second: PointSet;
  proposal: Point[];
  reference: Point[] | null;
  radius: number;
}

/** Every row of a paginated list, following `next` links. */
export async function fetchAll<T>(url: string, get: (url: string) => Promise<Page<T>>): Promise<T[]> {
  const rows: T[] = [];
  let next: string | null = url;
  while (next) {
    const page: Page<T> = await get(next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}

export function isDone(row: TaskRow): boolean {
  return Boolean(row.submitted ?? row.has_reference);
}

/** The first row not done after `afterId` in the list's order (wrapping round), or null when all are done. */
export function nextOpen(rows: TaskRow[], afterId: number | null = null): TaskRow | null {
  const start = afterId === null ? 0 : rows.findIndex((r) => r.id === afterId) + 1;
  for (let k = 0; k < rows.length; k++) {
    const row = rows[(start + k) % rows.length];
    if (row && !isDone(row)) return row;
  }
  return null;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** A click on the shown image as slice pixels (x = column), clamped to the image, to 0.1 px. */
export function toImagePoint(clientX: number, clientY: number, box: Box, columns: number, rows: number): Point {
  const clamp = (v: number, max: number) => Math.min(Math.max(v, 0), max);
  const x = clamp(((clientX - box.left) / box.width) * columns - 0.5, columns - 1);
  const y = clamp(((clientY - box.top) / box.height) * rows - 0.5, rows - 1);
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

/** The index of the point within `radius` of `p` (the nearest), or -1. */
export function hitIndex(points: Point[], p: Point, radius: number): number {
  let best = -1;
  let bestDistance = radius;
  points.forEach(([x, y], i) => {
    const d = Math.hypot(x - p[0], y - p[1]);
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  });
  return best;
}

/** A click edits a point set: on a point it removes that point, elsewhere it adds one. */
export function togglePoint(points: Point[], p: Point, radius: number): Point[] {
  const hit = hitIndex(points, p, radius);
  return hit >= 0 ? points.filter((_, i) => i !== hit) : [...points, p];
}

/** The radius of a drawn point and of its click target, in slice pixels. */
export function markerRadius(columns: number): number {
  return Math.max(2, columns / 64);
}

export type ReadCheck = { ok: true; body: ReadAnswer } | { ok: false; message: string };

/** The read form's answer, or what is missing. */
export function readPayload(ich: boolean | null, subtypes: string[], confidence: number): ReadCheck {
  if (ich === null) return { ok: false, message: "Say whether ICH is present." };
  if (!Number.isInteger(confidence) || confidence < 0 || confidence > 100) {
    return { ok: false, message: "Confidence is a whole number from 0 to 100." };
  }
  return { ok: true, body: { ich, subtypes: ich ? subtypes : [], confidence } };
}
