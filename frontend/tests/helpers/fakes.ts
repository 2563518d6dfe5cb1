/** Test doubles: DataTransfer with FileSystem entries, XMLHttpRequest, fetch. */
import type { DataTransferItemLike, DataTransferLike, ImportJob } from "../../src/lib/upload";

export function file(name: string, content = "x"): File {
  return new File([content], name);
}

export function fileEntry(fullPath: string, content = "dicom"): FileSystemEntry {
  const name = fullPath.split("/").pop() ?? fullPath;
  const entry = {
    isFile: true,
    isDirectory: false,
    name,
    fullPath,
    file(ok: (f: File) => void) {
      queueMicrotask(() => ok(new File([content], name)));
    },
  };
  return entry as unknown as FileSystemEntry;
}

/** Directory whose reader hands out `batch` entries per readEntries call (like Chrome's 100). */
export function dirEntry(fullPath: string, children: FileSystemEntry[], batch = 2): FileSystemEntry {
  const entry = {
    isFile: false,
    isDirectory: true,
    name: fullPath.split("/").pop() ?? fullPath,
    fullPath,
    createReader() {
      let i = 0;
      return {
        readEntries(ok: (entries: FileSystemEntry[]) => void) {
          const slice = children.slice(i, i + batch);
          i += slice.length;
          queueMicrotask(() => ok(slice));
        },
      };
    },
  };
  return entry as unknown as FileSystemEntry;
}

/**
 * A DataTransfer whose items only work until `expire()` is called, like a
 * real one after the drop handler returns.
 */
export function fakeDataTransfer(
  items: { entry?: FileSystemEntry | null; file?: File | null; kind?: string }[],
): DataTransferLike & { expire(): void } {
  let alive = true;
  const made: DataTransferItemLike[] = items.map((it) => ({
    kind: it.kind ?? "file",
    webkitGetAsEntry: () => (alive ? (it.entry ?? null) : null),
    getAsFile: () => (alive ? (it.file ?? null) : null),
  }));
  return {
    items: made,
    files: [],
    expire() {
      alive = false;
    },
  };
}

export function job(overrides: Partial<ImportJob> = {}): ImportJob {
  return {
    id: "3f0c6a1e-0000-4000-8000-000000000001",
    url: "/api/v1/import-jobs/3f0c6a1e-0000-4000-8000-000000000001/",
    status: "pending",
    progress: 0,
    message: "Queued",
    report: [],
    studies: [],
    ...overrides,
  };
}

export function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** Minimal XMLHttpRequest double; `respond` decides the answer when send() is called. */
export class FakeXHR extends EventTarget {
  static instances: FakeXHR[] = [];
  method = "";
  url = "";
  headers: Record<string, string> = {};
  body: unknown = null;
  status = 0;
  statusText = "";
  responseText = "";
  responseType: XMLHttpRequestResponseType = "";
  readonly upload = new EventTarget();
  aborted = false;

  constructor(private readonly respond?: (xhr: FakeXHR) => void) {
    super();
    FakeXHR.instances.push(this);
  }

  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(name: string, value: string): void {
    this.headers[name] = value;
  }
  send(body: unknown): void {
    this.body = body;
    if (this.respond) queueMicrotask(() => this.respond?.(this));
  }
  abort(): void {
    this.aborted = true;
    this.dispatchEvent(new Event("abort"));
  }

  progress(loaded: number, total: number): void {
    const e = new Event("progress") as Event & { lengthComputable: boolean; loaded: number; total: number };
    Object.assign(e, { lengthComputable: true, loaded, total });
    this.upload.dispatchEvent(e);
  }
  finish(status: number, body: unknown, statusText = ""): void {
    this.status = status;
    this.statusText = statusText;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.dispatchEvent(new Event("load"));
  }
  fail(): void {
    this.dispatchEvent(new Event("error"));
  }

  asXHR(): XMLHttpRequest {
    return this as unknown as XMLHttpRequest;
  }
}
