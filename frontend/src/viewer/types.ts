/** Shapes of the labeling API (GET read-url and the write answers). */

export type ReadStatus = "not_started" | "in_progress" | "submitted";
export type ReadKind = "primary" | "adjudication";

export interface SeriesInfo {
  id: number;
  rows: number;
  columns: number;
  n_slices: number;
  /** DICOM PixelSpacing: [row spacing (vertical), column spacing (horizontal)] in mm. */
  pixel_spacing: [number, number] | number[] | null;
  slice_spacing: number | null;
}

export interface SliceRef {
  index: number;
  id: number;
  z: number | null;
  hu_url: string;
}

export interface ApiPoint {
  id: string;
  slice_index: number;
  /** Image pixel coordinates: x = column (0..columns), y = row (0..rows). */
  x: number;
  y: number;
  subtype: string | null;
}

/** slice index (as a string key) -> subtype codes; [] = explicit "no haemorrhage". */
export type ApiLabels = Record<string, string[]>;

export interface ExclusionReason {
  code: string;
  label: string;
}

export interface QueueInfo {
  position: number;
  total: number;
  done: number;
  next_url: string | null;
  previous_url: string | null;
}

export interface ReferenceRead {
  label: string;
  labels: ApiLabels;
  points: ApiPoint[];
}

export interface ReadData {
  id: number;
  version: number;
  status: ReadStatus;
  kind: ReadKind;
  editable: boolean;
  project: { id: number; name: string };
  case: { id: number; study: number; series: SeriesInfo };
  slices: SliceRef[];
  labels: ApiLabels;
  points: ApiPoint[];
  excluded: boolean;
  exclusion_reason: string;
  exclusion_note: string;
  last_slice_index: number | null;
  exclusion_reasons: ExclusionReason[];
  subtypes: string[];
  queue: QueueInfo;
  adjudication: null | { reads: ReferenceRead[] };
}

/** A bleeding point as the viewer keeps it: `id` is null until the server has created it. */
export interface ClientPoint {
  /** Stable client-side key (the server id for loaded points, "new-N" for new ones). */
  readonly key: string;
  id: string | null;
  slice_index: number;
  x: number;
  y: number;
  subtype: string | null;
}
