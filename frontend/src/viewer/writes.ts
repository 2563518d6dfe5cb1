/**
 * The read's write operations for the {@link SaveQueue}. Request bodies are
 * built lazily (when the op is sent) from the viewer's *current* state, so a
 * coalesced or delayed op always sends the newest values.
 */
import type { Codes } from "./state";
import type { WriteOp, WriteRequest } from "./savequeue";
import type { ApiLabels, ApiPoint, ClientPoint } from "./types";
import type { ApiError } from "../lib/api";

/** read-url + path, e.g. ("/api/v1/labeling/reads/12/", "labels"). */
export function endpoint(readUrl: string, path: string): string {
  return (readUrl.endsWith("/") ? readUrl : `${readUrl}/`) + path;
}

/**
 * PUT labels for a set of slices; merges with a waiting labels op (union of
 * the slices, newest last_slice_index).
 */
export class LabelsWrite implements WriteOp {
  readonly kind = "labels";
  readonly coalesceKey = "labels";
  readonly slices: Set<number>;

  constructor(
    private readonly readUrl: string,
    slices: Iterable<number>,
    public lastSliceIndex: number,
    private readonly current: (slice: number) => Codes | undefined,
  ) {
    this.slices = new Set(slices);
  }

  body(version: number): { version: number; slices: ApiLabels; last_slice_index: number } {
    const slices: ApiLabels = {};
    for (const i of [...this.slices].sort((a, b) => a - b)) {
      const codes = this.current(i);
      if (codes !== undefined) slices[String(i)] = [...codes];
    }
    return { version, slices, last_slice_index: this.lastSliceIndex };
  }

  build(version: number): WriteRequest | null {
    const json = this.body(version);
    if (Object.keys(json.slices).length === 0) return null;
    return { method: "PUT", url: endpoint(this.readUrl, "labels"), json };
  }

  merge(newer: WriteOp): boolean {
    if (!(newer instanceof LabelsWrite)) return false;
    for (const i of newer.slices) this.slices.add(i);
    this.lastSliceIndex = newer.lastSliceIndex;
    return true;
  }
}

interface PointCallbacks {
  onCreated?(point: ClientPoint, created: ApiPoint | undefined): void;
  onError?(error: ApiError): void;
}

/** POST a new point; the server id is stored on the point object when it answers. */
export function createPointWrite(readUrl: string, point: ClientPoint, cb: PointCallbacks = {}): WriteOp {
  return {
    kind: "point-create",
    tag: point.key,
    build: (version) => ({
      method: "POST",
      url: endpoint(readUrl, "points"),
      json: { version, slice_index: point.slice_index, x: point.x, y: point.y, subtype: point.subtype },
    }),
    onSuccess(body) {
      const created = (body as { point?: ApiPoint } | undefined)?.point;
      if (created && typeof created.id === "string") point.id = created.id;
      cb.onCreated?.(point, created);
    },
    onError: (e) => cb.onError?.(e),
  };
}

/** PATCH position and subtype; skipped when the point never got a server id. */
export function updatePointWrite(readUrl: string, point: ClientPoint, onError?: (e: ApiError) => void): WriteOp {
  return {
    kind: "point-update",
    tag: point.key,
    coalesceKey: `point-update:${point.key}`,
    build: (version) =>
      point.id === null
        ? null
        : {
            method: "PATCH",
            url: endpoint(readUrl, `points/${encodeURIComponent(point.id)}`),
            json: { version, x: point.x, y: point.y, subtype: point.subtype },
          },
    merge: (newer) => newer.coalesceKey === `point-update:${point.key}`,
    ...(onError ? { onError } : {}),
  };
}

export function deletePointWrite(readUrl: string, point: ClientPoint, onError?: (e: ApiError) => void): WriteOp {
  return {
    kind: "point-delete",
    tag: point.key,
    build: (version) =>
      point.id === null
        ? null
        : { method: "DELETE", url: endpoint(readUrl, `points/${encodeURIComponent(point.id)}?version=${version}`) },
    ...(onError ? { onError } : {}),
  };
}

export function simpleWrite(
  readUrl: string,
  kind: "exclude" | "include" | "submit",
  extra: Record<string, unknown>,
  handlers: { onSuccess?(body: unknown): void; onError?(e: ApiError): void } = {},
): WriteOp {
  return {
    kind,
    build: (version) => ({ method: "POST", url: endpoint(readUrl, kind), json: { version, ...extra } }),
    ...handlers,
  };
}
