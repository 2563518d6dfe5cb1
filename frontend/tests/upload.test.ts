import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../src/lib/api";
import {
  buildFormData,
  collectFiles,
  filesFromList,
  formatBytes,
  normalizeJob,
  pollJob,
  renderReport,
  sendUpload,
  type ImportJob,
  type ReportRow,
} from "../src/lib/upload";
import { FakeXHR, dirEntry, fakeDataTransfer, file, fileEntry, job, jsonResponse } from "./helpers/fakes";

describe("collectFiles", () => {
  it("walks directory entries recursively and keeps relative paths", async () => {
    const dt = fakeDataTransfer([
      {
        entry: dirEntry("/CT_HEAD", [
          fileEntry("/CT_HEAD/IM0001.dcm"),
          fileEntry("/CT_HEAD/IM0002.dcm"),
          dirEntry("/CT_HEAD/series2", [fileEntry("/CT_HEAD/series2/IM0001"), fileEntry("/CT_HEAD/series2/IM0002")]),
          fileEntry("/CT_HEAD/DICOMDIR"),
        ]),
      },
      { entry: fileEntry("/export.zip") },
      { kind: "string" }, // e.g. a dragged URL: ignored
      { entry: null, file: file("loose.dcm") }, // no entry API: plain file
    ]);

    const pending = collectFiles(dt);
    dt.expire(); // the drop handler has returned: the DataTransfer is dead now
    const files = await pending;

    expect(files.map((f) => f.path)).toEqual([
      "CT_HEAD/IM0001.dcm",
      "CT_HEAD/IM0002.dcm",
      "CT_HEAD/series2/IM0001",
      "CT_HEAD/series2/IM0002",
      "CT_HEAD/DICOMDIR",
      "export.zip",
      "loose.dcm",
    ]);
    expect(files.every((f) => f.file instanceof File)).toBe(true);
    expect(files[0]?.file.name).toBe("IM0001.dcm");
  });

  it("handles an empty directory", async () => {
    await expect(collectFiles(fakeDataTransfer([{ entry: dirEntry("/empty", []) }]))).resolves.toEqual([]);
  });

  it("falls back to dataTransfer.files with webkitRelativePath", async () => {
    const f = file("IM1.dcm");
    Object.defineProperty(f, "webkitRelativePath", { value: "study/IM1.dcm" });
    const files = await collectFiles({ files: [f, file("b.zip")] });
    expect(files.map((x) => x.path)).toEqual(["study/IM1.dcm", "b.zip"]);
  });

  it("filesFromList uses webkitRelativePath of folder inputs", () => {
    const f = file("IM1.dcm");
    Object.defineProperty(f, "webkitRelativePath", { value: "folder/sub/IM1.dcm" });
    expect(filesFromList([f, file("x.dcm")]).map((x) => x.path)).toEqual(["folder/sub/IM1.dcm", "x.dcm"]);
    expect(filesFromList(null)).toEqual([]);
  });
});

describe("buildFormData", () => {
  it("repeats the files field, named by relative path, with a parallel paths field", () => {
    const fd = buildFormData([
      { file: file("IM0001.dcm"), path: "CT_HEAD/IM0001.dcm" },
      { file: file("IM0002.dcm"), path: "CT_HEAD/series 2/IM0002.dcm" },
      { file: file("export.zip"), path: "export.zip" },
    ]);
    const files = fd.getAll("files");
    expect(files).toHaveLength(3);
    expect(files.every((f) => f instanceof File)).toBe(true);
    expect((files as File[]).map((f) => f.name)).toEqual([
      "CT_HEAD/IM0001.dcm",
      "CT_HEAD/series 2/IM0002.dcm",
      "export.zip",
    ]);
    expect(fd.getAll("paths")).toEqual(["CT_HEAD/IM0001.dcm", "CT_HEAD/series 2/IM0002.dcm", "export.zip"]);
    expect([...fd.keys()].filter((k) => k !== "files" && k !== "paths")).toEqual([]);
  });
});

describe("renderReport", () => {
  const report: ReportRow[] = [
    { file: "CT_HEAD/IM0001.dcm", status: "accepted", reason: "" },
    { file: "CT_HEAD/notes.txt", status: "skipped", reason: "not a DICOM file" },
    { file: "CT_HEAD/<img src=x onerror=alert(1)>.dcm", status: "skipped", reason: "not CT" },
  ];

  it("produces one row per file with skipped rows marked", () => {
    const table = renderReport(report);
    expect(table.tagName).toBe("TABLE");
    expect(table.classList.contains("table")).toBe(true);
    const rows = Array.from(table.querySelectorAll("tbody tr"));
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => Array.from(r.querySelectorAll("td"), (td) => td.textContent))).toEqual([
      ["CT_HEAD/IM0001.dcm", "accepted", ""],
      ["CT_HEAD/notes.txt", "skipped", "not a DICOM file"],
      ["CT_HEAD/<img src=x onerror=alert(1)>.dcm", "skipped", "not CT"],
    ]);
    expect(rows.map((r) => r.classList.contains("is-skipped"))).toEqual([false, true, true]);
    expect(rows.map((r) => r.getAttribute("data-status"))).toEqual(["accepted", "skipped", "skipped"]);
    expect(table.querySelectorAll("th")).toHaveLength(3);
    expect(table.querySelector("caption")?.textContent).toBe("3 files: 1 accepted, 2 skipped");
  });

  it("renders file names as text, never HTML", () => {
    expect(renderReport(report).querySelector("img")).toBeNull();
  });
});

describe("normalizeJob", () => {
  it("fills defaults and clamps progress", () => {
    const j = normalizeJob({ id: "u", url: "/j/", status: "running", progress: 1.7, report: [{ file: "a", status: "weird" }] });
    expect(j).toEqual({
      id: "u",
      url: "/j/",
      status: "running",
      progress: 1,
      message: "",
      report: [{ file: "a", status: "skipped", reason: "" }],
      studies: [],
    });
  });

  it("rejects a non-job body", () => {
    expect(() => normalizeJob({ detail: "ok" })).toThrow(ApiError);
  });
});

describe("pollJob", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function sequence(...answers: (ImportJob | Response | Error)[]) {
    let i = 0;
    return vi.fn<typeof fetch>(async () => {
      const a = answers[Math.min(i++, answers.length - 1)];
      if (a instanceof Error) throw a;
      if (a instanceof Response) return a;
      return jsonResponse(a);
    });
  }

  it("polls every interval until done and reports every update", async () => {
    const fetchImpl = sequence(
      job({ status: "pending", progress: 0 }),
      job({ status: "running", progress: 0.5, message: "Reading series" }),
      job({ status: "done", progress: 1, message: "Imported 1 study", studies: [{ id: 7, url: "/studies/7/" }] }),
    );
    const updates: ImportJob[] = [];
    const done = pollJob("/api/v1/import-jobs/u/", (j) => updates.push(j), { intervalMs: 1000, fetchImpl });

    await vi.advanceTimersByTimeAsync(0);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(fetchImpl).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1000);

    const final = await done;
    expect(final.status).toBe("done");
    expect(final.studies).toEqual([{ id: 7, url: "/studies/7/" }]);
    expect(updates.map((u) => [u.status, u.progress])).toEqual([
      ["pending", 0],
      ["running", 0.5],
      ["done", 1],
    ]);
    expect(fetchImpl.mock.calls.every(([url, init]) => url === "/api/v1/import-jobs/u/" && init?.method === "GET")).toBe(
      true,
    );

    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchImpl).toHaveBeenCalledTimes(3); // stopped
  });

  it("stops at failed", async () => {
    const fetchImpl = sequence(job({ status: "running" }), job({ status: "failed", message: "No CT series found" }));
    const onUpdate = vi.fn();
    const done = pollJob("/j/", onUpdate, { intervalMs: 1000, fetchImpl });
    await vi.advanceTimersByTimeAsync(3000);
    await expect(done).resolves.toMatchObject({ status: "failed", message: "No CT series found" });
    expect(onUpdate).toHaveBeenCalledTimes(2);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
  });

  it("retries transient failures, then continues", async () => {
    const fetchImpl = sequence(
      new TypeError("Failed to fetch"),
      new Response("bad gateway", { status: 502 }),
      job({ status: "done", progress: 1 }),
    );
    const done = pollJob("/j/", () => {}, { intervalMs: 1000, fetchImpl });
    await vi.advanceTimersByTimeAsync(2000);
    await expect(done).resolves.toMatchObject({ status: "done" });
    expect(fetchImpl).toHaveBeenCalledTimes(3);
  });

  it("rejects with the server's message on a 4xx", async () => {
    const fetchImpl = sequence(jsonResponse({ detail: "Not found." }, 404));
    const done = pollJob("/j/", () => {}, { intervalMs: 1000, fetchImpl });
    const result = done.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    const err = await result;
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe("Not found.");
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });

  it("gives up after maxErrors consecutive network failures", async () => {
    const fetchImpl = sequence(new TypeError("Failed to fetch"));
    const result = pollJob("/j/", () => {}, { intervalMs: 1000, fetchImpl, maxErrors: 3 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(5000);
    expect(((await result) as ApiError).status).toBe(0);
    expect(fetchImpl).toHaveBeenCalledTimes(3);
  });

  it("can be cancelled", async () => {
    const fetchImpl = sequence(job({ status: "running" }));
    const ctl = new AbortController();
    const result = pollJob("/j/", () => {}, { intervalMs: 1000, fetchImpl, signal: ctl.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(0);
    ctl.abort();
    await vi.advanceTimersByTimeAsync(5000);
    expect(await result).toBeDefined();
    expect(fetchImpl).toHaveBeenCalledTimes(1);
  });
});

describe("sendUpload", () => {
  afterEach(() => document.head.replaceChildren());

  it("POSTs the form with CSRF and reports byte progress", async () => {
    const meta = document.createElement("meta");
    meta.name = "csrf-token";
    meta.content = "tok";
    document.head.append(meta);
    const xhr = new FakeXHR();
    const progress: [number, number][] = [];
    const body = buildFormData([{ file: file("a.dcm"), path: "s/a.dcm" }]);

    const p = sendUpload("/api/v1/studies/", body, {
      xhrFactory: () => xhr.asXHR(),
      onProgress: (loaded, total) => progress.push([loaded, total]),
    });
    xhr.progress(50, 200);
    xhr.progress(200, 200);
    xhr.finish(202, job({ status: "pending" }));

    await expect(p).resolves.toMatchObject({ status: "pending", url: job().url });
    expect(xhr.method).toBe("POST");
    expect(xhr.url).toBe("/api/v1/studies/");
    expect(xhr.headers).toEqual({ Accept: "application/json", "X-CSRFToken": "tok" });
    expect(xhr.body).toBe(body);
    expect(progress).toEqual([
      [50, 200],
      [200, 200],
    ]);
  });

  it("rejects with DRF field errors", async () => {
    const xhr = new FakeXHR();
    const p = sendUpload("/api/v1/studies/", new FormData(), { xhrFactory: () => xhr.asXHR() });
    xhr.finish(400, { files: ["No files were submitted."] });
    const err = (await p.catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.message).toBe("Files: No files were submitted.");
  });

  it("rejects with a readable message on network failure and on an HTML 413", async () => {
    const a = new FakeXHR();
    const p1 = sendUpload("/x", new FormData(), { xhrFactory: () => a.asXHR() });
    a.fail();
    expect(((await p1.catch((e: unknown) => e)) as ApiError).status).toBe(0);

    const b = new FakeXHR();
    const p2 = sendUpload("/x", new FormData(), { xhrFactory: () => b.asXHR() });
    b.finish(413, "<html><body>Request Entity Too Large</body></html>", "Payload Too Large");
    expect(((await p2.catch((e: unknown) => e)) as ApiError).message).toBe(
      "The upload is too large for the server. (HTTP 413)",
    );
  });
});

describe("formatBytes", () => {
  it("formats sizes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(250 * 1024 * 1024)).toBe("250 MB");
  });
});
