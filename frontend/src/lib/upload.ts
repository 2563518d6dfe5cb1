/**
 * Pure(ish), unit-testable parts of the study upload widget: collecting
 * dropped files and folders, building the multipart body, sending it with
 * upload progress, polling the import job and rendering its report.
 * The DOM wiring lives in `src/upload.ts`.
 */
import { ApiError, apiJson, csrfToken, parseApiError, statusMessage } from "./api";

// ---------------------------------------------------------------- types

/** A file to upload with its path relative to the dropped/selected root. */
export interface UploadFile {
  readonly file: File;
  readonly path: string;
}

export type JobStatus = "pending" | "running" | "done" | "failed";

export interface ReportRow {
  file: string;
  status: "accepted" | "skipped";
  reason: string;
}

export interface StudyRef {
  id: number | string;
  url: string;
}

/** The import job as returned by POST /api/v1/studies/ (202) and GET job url. */
export interface ImportJob {
  id: string;
  url: string;
  status: JobStatus;
  /** Import progress 0..1. */
  progress: number;
  message: string;
  report: ReportRow[];
  studies: StudyRef[];
}

const JOB_STATUSES: readonly JobStatus[] = ["pending", "running", "done", "failed"];

export function isTerminal(status: JobStatus): boolean {
  return status === "done" || status === "failed";
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** Validate/normalise an import-job JSON body (missing fields get defaults). */
export function normalizeJob(raw: unknown): ImportJob {
  const o = asRecord(raw);
  const status = o["status"];
  if (typeof o["url"] !== "string" || !JOB_STATUSES.includes(status as JobStatus)) {
    throw new ApiError(0, "Unexpected answer from the server (not an import job).", { body: raw });
  }
  const progress = Number(o["progress"]);
  const report = Array.isArray(o["report"]) ? o["report"] : [];
  const studies = Array.isArray(o["studies"]) ? o["studies"] : [];
  return {
    id: String(o["id"] ?? ""),
    url: o["url"],
    status: status as JobStatus,
    progress: Number.isFinite(progress) ? Math.min(1, Math.max(0, progress)) : 0,
    message: typeof o["message"] === "string" ? o["message"] : "",
    report: report.map((r) => {
      const row = asRecord(r);
      return {
        file: String(row["file"] ?? ""),
        status: row["status"] === "accepted" ? "accepted" : "skipped",
        reason: row["reason"] == null ? "" : String(row["reason"]),
      };
    }),
    studies: studies
      .map((s) => asRecord(s))
      .filter((s) => typeof s["url"] === "string")
      .map((s) => ({ id: s["id"] as number | string, url: s["url"] as string })),
  };
}

// ---------------------------------------------------------------- collecting files

/** The parts of `DataTransfer` / `DataTransferItem` that are used (fakeable in tests). */
export interface DataTransferItemLike {
  readonly kind: string;
  webkitGetAsEntry?(): FileSystemEntry | null;
  getAsFile(): File | null;
}
export interface DataTransferLike {
  readonly items?: ArrayLike<DataTransferItemLike> | null;
  readonly files?: ArrayLike<File> | null;
}

function stripSlash(path: string): string {
  return path.replace(/^\/+/, "");
}

/** Path of a file picked with `<input type=file>` (folder inputs fill webkitRelativePath). */
export function relativePath(file: File): string {
  return stripSlash(file.webkitRelativePath || file.name);
}

/** Files from a `FileList` (file or `webkitdirectory` input). */
export function filesFromList(list: ArrayLike<File> | null | undefined): UploadFile[] {
  return Array.from(list ?? [], (file) => ({ file, path: relativePath(file) }));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

/** All entries of a directory (readEntries returns batches until an empty one). */
async function readAllEntries(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await readBatch(reader);
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

/** Walk a FileSystemEntry tree depth-first, collecting files with their fullPath. */
export async function walkEntry(entry: FileSystemEntry, out: UploadFile[] = []): Promise<UploadFile[]> {
  if (entry.isFile) {
    const file = await entryFile(entry as FileSystemFileEntry);
    out.push({ file, path: stripSlash(entry.fullPath || file.name) });
  } else if (entry.isDirectory) {
    const children = await readAllEntries(entry as FileSystemDirectoryEntry);
    for (const child of children) await walkEntry(child, out);
  }
  return out;
}

/**
 * Collect the files of a drop: plain files, .zip files (sent as they are) and
 * folders (walked recursively through `webkitGetAsEntry()`), each with its
 * relative path.
 *
 * Call it synchronously from the `drop` handler: the entries are taken from
 * `dataTransfer.items` before the first `await`, because the browser empties
 * the DataTransfer once the event handler returns.
 */
export function collectFiles(dataTransfer: DataTransferLike): Promise<UploadFile[]> {
  const items = Array.from(dataTransfer.items ?? []).filter((item) => item.kind === "file");
  if (items.length === 0) return Promise.resolve(filesFromList(dataTransfer.files));

  // Synchronous part: grab entries / files while the DataTransfer is alive.
  const sources: (FileSystemEntry | File)[] = [];
  for (const item of items) {
    const entry = item.webkitGetAsEntry?.() ?? null;
    if (entry) sources.push(entry);
    else {
      const file = item.getAsFile();
      if (file) sources.push(file);
    }
  }

  return (async () => {
    const out: UploadFile[] = [];
    for (const src of sources) {
      if (src instanceof File) out.push({ file: src, path: relativePath(src) });
      else await walkEntry(src, out);
    }
    return out;
  })();
}

// ---------------------------------------------------------------- request body

export const FILES_FIELD = "files";
/**
 * Django's multipart parser keeps only the basename of an upload's filename,
 * so each file's relative path is also sent in a parallel `paths` field
 * (same order as `files`: `zip(FILES.getlist("files"), POST.getlist("paths"))`).
 */
export const PATHS_FIELD = "paths";

/** One multipart body: `files` repeated, filename = relative path, plus `paths`. */
export function buildFormData(files: readonly UploadFile[]): FormData {
  const fd = new FormData();
  for (const { file, path } of files) {
    fd.append(FILES_FIELD, file, path);
    fd.append(PATHS_FIELD, path);
  }
  return fd;
}

export function totalBytes(files: readonly UploadFile[]): number {
  return files.reduce((sum, f) => sum + f.file.size, 0);
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

// ---------------------------------------------------------------- sending

export interface SendOptions {
  /** Bytes sent so far / total bytes of the request body. */
  onProgress?: (loaded: number, total: number) => void;
  /** XMLHttpRequest factory (tests). */
  xhrFactory?: () => XMLHttpRequest;
  signal?: AbortSignal;
}

function parseText(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * POST the multipart body with XMLHttpRequest (fetch has no upload progress).
 * Resolves with the import job of a 2xx answer, rejects with an ApiError.
 */
export function sendUpload(endpoint: string, body: FormData, options: SendOptions = {}): Promise<ImportJob> {
  const xhr = options.xhrFactory ? options.xhrFactory() : new XMLHttpRequest();
  return new Promise<ImportJob>((resolve, reject) => {
    xhr.open("POST", endpoint);
    xhr.setRequestHeader("Accept", "application/json");
    const token = typeof document === "undefined" ? "" : csrfToken();
    if (token) xhr.setRequestHeader("X-CSRFToken", token);
    xhr.responseType = "text";
    if (options.onProgress) {
      const onProgress = options.onProgress;
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(e.loaded, e.total);
      });
    }
    xhr.addEventListener("load", () => {
      const body = parseText(xhr.responseText);
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(normalizeJob(body));
        } catch (err) {
          reject(err);
        }
      } else {
        reject(parseApiError(xhr.status, body, xhr.statusText));
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, statusMessage(0))));
    xhr.addEventListener("timeout", () => reject(new ApiError(0, "The upload timed out.")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, "Upload cancelled.")));
    if (options.signal) {
      if (options.signal.aborted) {
        reject(new ApiError(0, "Upload cancelled."));
        return;
      }
      options.signal.addEventListener("abort", () => xhr.abort(), { once: true });
    }
    xhr.send(body);
  });
}

// ---------------------------------------------------------------- polling

export interface PollOptions {
  /** Delay between polls (default 1000 ms). */
  intervalMs?: number;
  fetchImpl?: typeof fetch;
  signal?: AbortSignal;
  /** Consecutive network/5xx failures tolerated before giving up (default 3). */
  maxErrors?: number;
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function isTransient(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 0 || err.status === 502 || err.status === 503 || err.status === 504);
}

/**
 * GET the job `url` now and then every `intervalMs` until its status is
 * `done` or `failed`; `onUpdate` sees every answer. Resolves with the final
 * job. Transient failures (network, 502-504) are retried up to `maxErrors`
 * times in a row; other HTTP errors reject at once.
 */
export async function pollJob(
  url: string,
  onUpdate: (job: ImportJob) => void,
  options: PollOptions = {},
): Promise<ImportJob> {
  const { intervalMs = 1000, fetchImpl, signal, maxErrors = 3 } = options;
  let errors = 0;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    let job: ImportJob;
    try {
      const init: Parameters<typeof apiJson>[1] = { method: "GET", cache: "no-store" };
      if (fetchImpl) init.fetchImpl = fetchImpl;
      if (signal) init.signal = signal;
      job = normalizeJob(await apiJson<unknown>(url, init));
      errors = 0;
    } catch (err) {
      if (isTransient(err) && ++errors < maxErrors) {
        await delay(intervalMs, signal);
        continue;
      }
      throw err;
    }
    onUpdate(job);
    if (isTerminal(job.status)) return job;
    await delay(intervalMs, signal);
  }
}

// ---------------------------------------------------------------- report

export function summarizeReport(report: readonly ReportRow[]): { accepted: number; skipped: number } {
  let accepted = 0;
  for (const row of report) if (row.status === "accepted") accepted++;
  return { accepted, skipped: report.length - accepted };
}

/**
 * The per-file report as `<table class="table report-table">`: one row per
 * file (file, status, reason); skipped rows get `class="is-skipped"` and
 * `data-status="skipped"`. Text only (file names are user input).
 */
export function renderReport(report: readonly ReportRow[], doc: Document = document): HTMLTableElement {
  const table = doc.createElement("table");
  table.className = "table table-compact report-table";

  const { accepted, skipped } = summarizeReport(report);
  const caption = doc.createElement("caption");
  caption.textContent = `${report.length} file${report.length === 1 ? "" : "s"}: ${accepted} accepted, ${skipped} skipped`;
  table.append(caption);

  const thead = doc.createElement("thead");
  const headRow = doc.createElement("tr");
  for (const title of ["File", "Status", "Reason"]) {
    const th = doc.createElement("th");
    th.scope = "col";
    th.textContent = title;
    headRow.append(th);
  }
  thead.append(headRow);
  table.append(thead);

  const tbody = doc.createElement("tbody");
  for (const row of report) {
    const tr = doc.createElement("tr");
    tr.dataset["status"] = row.status;
    if (row.status === "skipped") tr.className = "is-skipped";

    const file = doc.createElement("td");
    file.className = "report-file";
    file.textContent = row.file;

    const status = doc.createElement("td");
    const badge = doc.createElement("span");
    badge.className = `badge ${row.status === "accepted" ? "badge-success" : "badge-warning"}`;
    badge.textContent = row.status;
    status.append(badge);

    const reason = doc.createElement("td");
    reason.textContent = row.reason;

    tr.append(file, status, reason);
    tbody.append(tr);
  }
  table.append(tbody);
  return table;
}
