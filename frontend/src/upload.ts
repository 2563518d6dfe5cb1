/**
 * Studies page: upload widget (Vite entry "src/upload.ts").
 *
 * DOM contract (see README.md):
 *
 *   <div data-upload data-endpoint="/api/v1/studies/" [data-reload-url="/studies/"]
 *        [data-poll-interval="1000"]>
 *     <div class="dropzone" data-upload-dropzone> … </div>   optional, else the container
 *     <input type="file" multiple>                            any number of file inputs
 *     <input type="file" multiple webkitdirectory>            (folder input)
 *     <button type="button" data-upload-submit>Upload</button> optional: stage, then click
 *     <progress data-upload-progress></progress>              upload bytes    (created if missing)
 *     <progress data-upload-import-progress></progress>       import progress (created if missing)
 *     <div data-upload-status role="status"></div>            messages        (created if missing)
 *     <div data-upload-report></div>                          per-file report (created if missing)
 *   </div>
 */
import { ApiError } from "./lib/api";
import {
  buildFormData,
  collectFiles,
  filesFromList,
  formatBytes,
  isTerminal,
  pollJob,
  renderReport,
  sendUpload,
  summarizeReport,
  totalBytes,
  type ImportJob,
  type UploadFile,
} from "./lib/upload";

export type StatusState = "idle" | "info" | "working" | "success" | "error";

export interface WidgetDeps {
  xhrFactory?: () => XMLHttpRequest;
  fetchImpl?: typeof fetch;
  intervalMs?: number;
}

function ensure<T extends HTMLElement>(root: HTMLElement, selector: string, create: () => T): T {
  const found = root.querySelector<T>(selector);
  if (found) return found;
  const el = create();
  root.append(el);
  return el;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

export class UploadWidget {
  readonly root: HTMLElement;
  readonly endpoint: string;
  readonly dropzone: HTMLElement;
  readonly inputs: HTMLInputElement[];
  readonly submit: HTMLButtonElement | null;
  readonly uploadProgress: HTMLProgressElement;
  readonly importProgress: HTMLProgressElement;
  readonly status: HTMLElement;
  readonly reportBox: HTMLElement;
  private readonly deps: WidgetDeps;
  private staged: UploadFile[] = [];
  private busy = false;
  private dragDepth = 0;

  constructor(root: HTMLElement, deps: WidgetDeps = {}) {
    this.root = root;
    this.deps = deps;
    this.endpoint = root.dataset["endpoint"] || "/api/v1/studies/";
    const doc = root.ownerDocument;
    this.dropzone = root.querySelector<HTMLElement>("[data-upload-dropzone]") ?? root;
    this.inputs = Array.from(root.querySelectorAll<HTMLInputElement>('input[type="file"]'));
    this.submit = root.querySelector<HTMLButtonElement>("[data-upload-submit]");
    const makeProgress = (attr: string) => (): HTMLProgressElement => {
      const p = doc.createElement("progress");
      p.setAttribute(attr, "");
      p.className = "progress";
      p.hidden = true;
      return p;
    };
    this.uploadProgress = ensure(root, "progress[data-upload-progress]", makeProgress("data-upload-progress"));
    this.importProgress = ensure(
      root,
      "progress[data-upload-import-progress]",
      makeProgress("data-upload-import-progress"),
    );
    this.status = ensure(root, "[data-upload-status]", () => {
      const d = doc.createElement("div");
      d.setAttribute("data-upload-status", "");
      return d;
    });
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    this.reportBox = ensure(root, "[data-upload-report]", () => {
      const d = doc.createElement("div");
      d.setAttribute("data-upload-report", "");
      return d;
    });
    this.bind();
    if (this.submit) this.submit.disabled = true;
    root.setAttribute("data-upload-ready", "");
  }

  private bind(): void {
    const dz = this.dropzone;
    dz.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      this.dragDepth++;
      dz.classList.add("is-dragover");
    });
    dz.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = this.busy ? "none" : "copy";
      dz.classList.add("is-dragover");
    });
    dz.addEventListener("dragleave", () => {
      this.dragDepth = Math.max(0, this.dragDepth - 1);
      if (this.dragDepth === 0) dz.classList.remove("is-dragover");
    });
    dz.addEventListener("drop", (e) => {
      e.preventDefault();
      this.dragDepth = 0;
      dz.classList.remove("is-dragover");
      if (!e.dataTransfer || this.busy) return;
      // collectFiles reads the DataTransfer synchronously, before it is emptied.
      collectFiles(e.dataTransfer).then(
        (files) => this.choose(files),
        (err: unknown) => this.setStatus("error", `Could not read the dropped files: ${errorText(err)}`),
      );
    });
    for (const input of this.inputs) {
      input.addEventListener("change", () => {
        const files = filesFromList(input.files);
        input.value = ""; // selecting the same files again fires change again
        this.choose(files);
      });
    }
    this.submit?.addEventListener("click", () => {
      const files = this.staged;
      this.staged = [];
      void this.upload(files);
    });
  }

  /** Files were dropped or picked: upload now, or stage them when there is a submit button. */
  choose(files: UploadFile[]): void {
    if (this.busy) return;
    if (files.length === 0) {
      this.setStatus("error", "No files found. Drop DICOM files, folders or .zip archives.");
      return;
    }
    if (!this.submit) {
      void this.upload(files);
      return;
    }
    this.staged = files;
    this.submit.disabled = false;
    this.setStatus("info", `${plural(files.length, "file")} selected (${formatBytes(totalBytes(files))}).`);
  }

  setStatus(state: StatusState, text: string): void {
    this.status.dataset["state"] = state;
    this.status.textContent = text;
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.root.classList.toggle("is-busy", busy);
    this.root.setAttribute("aria-busy", String(busy));
    for (const input of this.inputs) input.disabled = busy;
    if (this.submit) this.submit.disabled = busy || this.staged.length === 0;
  }

  /** Upload, then follow the import job to the end. Resolves with the final job (or null on error). */
  async upload(files: UploadFile[]): Promise<ImportJob | null> {
    if (this.busy || files.length === 0) return null;
    this.setBusy(true);
    this.reportBox.replaceChildren();
    const total = totalBytes(files);
    const count = plural(files.length, "file");
    this.uploadProgress.hidden = false;
    this.uploadProgress.max = Math.max(1, total);
    this.uploadProgress.value = 0;
    this.importProgress.hidden = true;
    this.setStatus("working", `Uploading ${count} (${formatBytes(total)})…`);

    const warnOnLeave = (e: BeforeUnloadEvent): void => e.preventDefault();
    const win = this.root.ownerDocument.defaultView;
    win?.addEventListener("beforeunload", warnOnLeave);
    try {
      const sendOptions: Parameters<typeof sendUpload>[2] = {
        onProgress: (loaded, size) => {
          this.uploadProgress.max = Math.max(1, size);
          this.uploadProgress.value = loaded;
          const pct = size > 0 ? Math.floor((loaded / size) * 100) : 0;
          this.setStatus("working", `Uploading ${count}: ${formatBytes(loaded)} of ${formatBytes(size)} (${pct}%)…`);
        },
      };
      if (this.deps.xhrFactory) sendOptions.xhrFactory = this.deps.xhrFactory;
      let job: ImportJob;
      try {
        job = await sendUpload(this.endpoint, buildFormData(files), sendOptions);
      } finally {
        win?.removeEventListener("beforeunload", warnOnLeave);
      }
      this.uploadProgress.value = this.uploadProgress.max;
      this.importProgress.hidden = false;
      this.importProgress.max = 1;
      this.showJob(job);
      if (!isTerminal(job.status)) {
        const pollOptions: Parameters<typeof pollJob>[2] = {
          intervalMs: this.deps.intervalMs ?? (Number(this.root.dataset["pollInterval"]) || 1000),
        };
        if (this.deps.fetchImpl) pollOptions.fetchImpl = this.deps.fetchImpl;
        job = await pollJob(job.url, (j) => this.showJob(j), pollOptions);
      }
      this.finish(job);
      return job;
    } catch (err) {
      this.setStatus("error", errorText(err));
      return null;
    } finally {
      this.setBusy(false);
    }
  }

  private showJob(job: ImportJob): void {
    this.importProgress.value = job.progress;
    const pct = Math.round(job.progress * 100);
    if (!isTerminal(job.status)) {
      this.setStatus("working", `${job.message || (job.status === "pending" ? "Waiting to import…" : "Importing…")} (${pct}%)`);
    }
  }

  private finish(job: ImportJob): void {
    const doc = this.root.ownerDocument;
    const { accepted, skipped } = summarizeReport(job.report);
    if (job.status === "done") {
      this.importProgress.value = 1;
      const summary = job.report.length ? ` ${accepted} accepted, ${skipped} skipped.` : "";
      this.setStatus("success", `${job.message || "Import finished."}${summary}`);
    } else {
      this.setStatus("error", job.message || "Import failed.");
    }

    const parts: HTMLElement[] = [];
    if (job.studies.length) {
      const list = doc.createElement("ul");
      list.className = "upload-studies";
      for (const study of job.studies) {
        const li = doc.createElement("li");
        const a = doc.createElement("a");
        a.href = study.url;
        a.textContent = `Study ${study.id}`;
        li.append(a);
        list.append(li);
      }
      parts.push(list);
    }
    if (job.report.length) parts.push(renderReport(job.report, doc));
    const reload = doc.createElement("a");
    reload.className = "btn";
    reload.setAttribute("data-upload-reload", "");
    reload.href = this.root.dataset["reloadUrl"] || doc.location.href;
    reload.textContent = "Reload the study list";
    const actions = doc.createElement("p");
    actions.append(reload);
    parts.push(actions);
    this.reportBox.replaceChildren(...parts);
  }
}

function hasFiles(e: DragEvent): boolean {
  return Array.from(e.dataTransfer?.types ?? []).includes("Files");
}

function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

let guardInstalled = false;

/** Dropping a file outside a drop zone must not navigate away from the page. */
function installDropGuard(win: Window): void {
  if (guardInstalled) return;
  guardInstalled = true;
  const guard = (e: DragEvent): void => {
    const target = e.target instanceof Element ? e.target : null;
    if (hasFiles(e) && !target?.closest("[data-upload-dropzone], [data-upload]")) {
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = "none";
    }
  };
  win.addEventListener("dragover", guard);
  win.addEventListener("drop", guard);
}

/** Attach a widget to every `[data-upload]` element under `root` (once each). */
export function initUploadWidgets(root: ParentNode = document, deps: WidgetDeps = {}): UploadWidget[] {
  const widgets = Array.from(root.querySelectorAll<HTMLElement>("[data-upload]:not([data-upload-ready])"), (el) => new UploadWidget(el, deps));
  const win = widgets[0]?.root.ownerDocument.defaultView;
  if (win) installDropGuard(win);
  return widgets;
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => initUploadWidgets(), { once: true });
  } else {
    initUploadWidgets();
  }
}
