/**
 * Training-run progress, as the run API reports it (`GET /api/v1/modeling/runs/{id}/`), turned into what
 * the run pages show: an overall fraction and one row per net. Pure functions: tested without a DOM.
 */

export interface ArchProgress {
  epoch?: number;
  max_epochs?: number;
  step?: number;
  steps_per_epoch?: number;
  loss?: number;
  val_loss?: number | null;
  val_map?: number | null;
  done?: boolean;
}

export interface RunProgress {
  stage?: string;
  message?: string;
  archs?: Record<string, ArchProgress>;
}

export interface RunDoc {
  id: number;
  status: string;
  progress: RunProgress;
  error: string;
  model_version: number | null;
}

export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

/** Fraction of one net's training done: finished epochs plus the current epoch's share of steps. */
export function archFraction(p: ArchProgress): number {
  if (p.done) return 1;
  const maxEpochs = p.max_epochs ?? 0;
  if (maxEpochs <= 0) return 0;
  const epoch = Math.max(0, (p.epoch ?? 0) - 1);
  const steps = p.steps_per_epoch ?? 0;
  const within = steps > 0 ? Math.min(1, (p.step ?? 0) / steps) : 0;
  return Math.min(1, (epoch + within) / maxEpochs);
}

/**
 * Overall fraction of a run: training is 90 % shared equally by the nets, assembly (ensemble, atlas,
 * test evaluation) the last 10 %; a succeeded run is 1.
 */
export function overallFraction(doc: Pick<RunDoc, "status" | "progress">): number {
  if (doc.status === "succeeded") return 1;
  const archs = Object.values(doc.progress.archs ?? {});
  if (archs.length === 0) return 0;
  const training = archs.reduce((sum, a) => sum + archFraction(a), 0) / archs.length;
  const assembling = doc.progress.stage === "assemble" ? 0.05 : 0;
  return Math.min(1, 0.9 * training + assembling);
}

export function fmt(value: number | null | undefined, digits = 3): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
}

export interface ArchRow {
  arch: string;
  epoch: string;
  step: string;
  loss: string;
  valLoss: string;
  valMap: string;
  fraction: number;
}

export function archRows(progress: RunProgress): ArchRow[] {
  return Object.entries(progress.archs ?? {}).map(([arch, p]) => ({
    arch,
    epoch: `${p.epoch ?? 0} / ${p.max_epochs ?? "?"}${p.done ? " ✓" : ""}`,
    step: p.steps_per_epoch ? `${p.step ?? 0} / ${p.steps_per_epoch}` : "—",
    loss: fmt(p.loss, 4),
    valLoss: fmt(p.val_loss, 4),
    valMap: fmt(p.val_map),
    fraction: archFraction(p),
  }));
}

export const STATUS_LABEL: Readonly<Record<string, string>> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Succeeded",
  failed: "Failed",
  cancelled: "Cancelled",
};

export function badgeClass(status: string): string {
  if (status === "succeeded") return "badge badge-success";
  if (status === "failed") return "badge badge-danger";
  if (status === "cancelled") return "badge badge-warning";
  return "badge badge-info";
}
