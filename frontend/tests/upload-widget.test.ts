import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { UploadWidget, initUploadWidgets } from "../src/upload";
import { FakeXHR, dirEntry, fakeDataTransfer, file, fileEntry, job, jsonResponse } from "./helpers/fakes";

const MARKUP = `
  <div data-upload data-endpoint="/api/v1/studies/" data-reload-url="/studies/">
    <div class="dropzone" data-upload-dropzone>
      <input type="file" multiple>
      <input type="file" multiple webkitdirectory>
    </div>
    <progress data-upload-progress hidden></progress>
    <progress data-upload-import-progress hidden></progress>
    <div data-upload-status></div>
    <div data-upload-report></div>
  </div>`;

function drop(target: Element, dataTransfer: unknown): void {
  const e = new Event("drop", { bubbles: true, cancelable: true });
  Object.defineProperty(e, "dataTransfer", { value: dataTransfer });
  target.dispatchEvent(e);
}

beforeEach(() => {
  document.body.innerHTML = MARKUP;
});
afterEach(() => {
  document.body.replaceChildren();
});

describe("upload widget", () => {
  it("uploads dropped folders, follows the job and renders the report", async () => {
    const xhr = new FakeXHR((x) => {
      x.progress(10, 10);
      x.finish(202, job({ status: "pending", progress: 0, message: "Queued" }));
    });
    const answers = [
      job({ status: "running", progress: 0.5, message: "Importing series 1/2" }),
      job({
        status: "done",
        progress: 1,
        message: "Imported 1 study.",
        report: [
          { file: "CT/IM1.dcm", status: "accepted", reason: "" },
          { file: "CT/readme.txt", status: "skipped", reason: "not DICOM" },
        ],
        studies: [{ id: 12, url: "/studies/12/" }],
      }),
    ];
    const fetchImpl = vi.fn<typeof fetch>(async () => jsonResponse(answers.shift()));
    const [widget] = initUploadWidgets(document, { xhrFactory: () => xhr.asXHR(), fetchImpl, intervalMs: 1 });
    expect(widget).toBeInstanceOf(UploadWidget);
    const root = document.querySelector<HTMLElement>("[data-upload]")!;
    const dropzone = root.querySelector("[data-upload-dropzone]")!;
    const status = root.querySelector<HTMLElement>("[data-upload-status]")!;

    const upload = vi.spyOn(widget!, "upload");
    drop(dropzone, fakeDataTransfer([{ entry: dirEntry("/CT", [fileEntry("/CT/IM1.dcm"), fileEntry("/CT/readme.txt")]) }]));
    await vi.waitFor(() => expect(upload).toHaveBeenCalled());
    const final = await upload.mock.results[0]?.value;

    expect(final).toMatchObject({ status: "done" });
    expect((xhr.body as FormData).getAll("paths")).toEqual(["CT/IM1.dcm", "CT/readme.txt"]);
    expect(fetchImpl).toHaveBeenCalledTimes(2);
    expect(fetchImpl.mock.calls[0]?.[0]).toBe(job().url);
    expect(status.dataset["state"]).toBe("success");
    expect(status.textContent).toBe("Imported 1 study. 1 accepted, 1 skipped.");
    expect(root.querySelector<HTMLProgressElement>("[data-upload-import-progress]")!.value).toBe(1);
    expect(root.querySelectorAll("[data-upload-report] tbody tr")).toHaveLength(2);
    expect(root.querySelectorAll("[data-upload-report] tr.is-skipped")).toHaveLength(1);
    expect(root.querySelector<HTMLAnchorElement>('[data-upload-report] a[href="/studies/12/"]')).not.toBeNull();
    expect(root.querySelector<HTMLAnchorElement>("[data-upload-reload]")!.getAttribute("href")).toBe("/studies/");
    expect(root.querySelectorAll<HTMLInputElement>("input:disabled")).toHaveLength(0);
  });

  it("shows the server's error message", async () => {
    const xhr = new FakeXHR((x) => x.finish(400, { files: ["Upload at most 2000 files."] }));
    const [widget] = initUploadWidgets(document, { xhrFactory: () => xhr.asXHR() });
    const result = await widget!.upload([{ file: file("a.dcm"), path: "a.dcm" }]);
    const status = document.querySelector<HTMLElement>("[data-upload-status]")!;
    expect(result).toBeNull();
    expect(status.dataset["state"]).toBe("error");
    expect(status.textContent).toBe("Files: Upload at most 2000 files.");
  });

  it("reports a failed import job", async () => {
    const xhr = new FakeXHR((x) => x.finish(202, job({ status: "failed", message: "No CT series found." })));
    const [widget] = initUploadWidgets(document, { xhrFactory: () => xhr.asXHR() });
    await widget!.upload([{ file: file("a.dcm"), path: "a.dcm" }]);
    const status = document.querySelector<HTMLElement>("[data-upload-status]")!;
    expect(status.dataset["state"]).toBe("error");
    expect(status.textContent).toBe("No CT series found.");
  });

  it("highlights the drop zone while dragging files over it", () => {
    initUploadWidgets(document);
    const dz = document.querySelector("[data-upload-dropzone]")!;
    const drag = (type: string): void => {
      const e = new Event(type, { bubbles: true, cancelable: true });
      Object.defineProperty(e, "dataTransfer", { value: { types: ["Files"], dropEffect: "none" } });
      dz.dispatchEvent(e);
    };
    drag("dragenter");
    expect(dz.classList.contains("is-dragover")).toBe(true);
    drag("dragleave");
    expect(dz.classList.contains("is-dragover")).toBe(false);
  });

  it("creates missing status/progress/report elements and initialises once", () => {
    document.body.innerHTML = `<div data-upload data-endpoint="/api/v1/studies/"></div>`;
    expect(initUploadWidgets(document)).toHaveLength(1);
    expect(initUploadWidgets(document)).toHaveLength(0);
    const root = document.querySelector("[data-upload]")!;
    expect(root.querySelector("progress[data-upload-progress]")).not.toBeNull();
    expect(root.querySelector("progress[data-upload-import-progress]")).not.toBeNull();
    expect(root.querySelector("[data-upload-status][role=status]")).not.toBeNull();
    expect(root.querySelector("[data-upload-report]")).not.toBeNull();
  });
});
