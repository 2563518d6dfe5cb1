import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { mountViewer, type Viewer, type ViewerDeps } from "../../src/viewer/app";
import type { ReadData } from "../../src/viewer/types";
import { FakeScheduler, json, settle, type Call } from "./helpers";

const READ_URL = "/api/v1/labeling/reads/12/";

function readData(overrides: Partial<ReadData> = {}): ReadData {
  return {
    id: 12,
    version: 7,
    status: "in_progress",
    kind: "primary",
    editable: true,
    project: { id: 1, name: "ICH pilot" },
    case: { id: 5, study: 3, series: { id: 9, rows: 40, columns: 40, n_slices: 3, pixel_spacing: [0.45, 0.45], slice_spacing: 5 } },
    slices: [0, 1, 2].map((i) => ({ index: i, id: 101 + i, z: -5 + i * 5, hu_url: `/api/v1/slices/${101 + i}/hu` })),
    labels: { "0": [] },
    points: [{ id: "p-1", slice_index: 1, x: 0.5, y: 0.5, subtype: "SAH" }],
    excluded: false,
    exclusion_reason: "",
    exclusion_note: "",
    last_slice_index: 1,
    exclusion_reasons: [
      { code: "surgery", label: "Post-surgical" },
      { code: "motion", label: "Motion artefact" },
    ],
    subtypes: ["IPH", "IVH", "SDH", "EDH", "SAH"],
    queue: { position: 2, total: 10, done: 1, next_url: "/labeling/reads/13/", previous_url: "/labeling/reads/11/" },
    adjudication: null,
    ...overrides,
  };
}

/** A tiny fake server for one read: versions, points, HU slices. */
function fakeServer(read: ReadData) {
  let version = read.version;
  let nextPoint = 1;
  const calls: Call[] = [];
  const override: { fn: ((call: Call) => Response | undefined) | null } = { fn: null };
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as Record<string, unknown>) : undefined;
    const call = { method, url, body };
    if (!url.endsWith("/hu")) calls.push(call);
    const forced = override.fn?.(call);
    if (forced) return forced;
    if (method === "GET" && url === READ_URL) return json(read);
    if (method === "GET" && url.endsWith("/hu")) {
      const hu = new Int16Array(40 * 40).fill(40);
      return new Response(new Uint8Array(hu.buffer), { headers: { "X-Slice-Shape": "40,40" } });
    }
    if (url.endsWith("/heartbeat")) return new Response(null, { status: 204 });
    const sent = body?.["version"] ?? Number(new URL(url, "http://x").searchParams.get("version"));
    if (sent !== version) return json({ detail: "This read was changed elsewhere.", version }, 409);
    version++;
    if (method === "POST" && url.endsWith("/points")) {
      return json({ point: { id: `srv-${nextPoint++}`, ...body }, version }, 201);
    }
    if (url.endsWith("/submit")) return json({ version, status: "submitted", next_url: "/labeling/reads/13/" });
    return json({ version });
  }) as typeof fetch;
  return { fetchImpl, calls, override, writes: () => calls.filter((c) => c.method !== "GET" && !c.url.endsWith("/heartbeat")) };
}

let viewer: Viewer | null = null;

/** vi.waitFor with a short poll interval (keeps the suite fast). */
function until(check: () => void): Promise<void> {
  return vi.waitFor(check, { interval: 5, timeout: 2000 });
}

async function mount(read = readData(), deps: Partial<ViewerDeps> = {}) {
  document.body.innerHTML = `<div id="viewer" data-read-url="${READ_URL}" data-queue-url="/labeling/"></div>`;
  const root = document.getElementById("viewer")!;
  const server = fakeServer(read);
  const navigate = vi.fn<(url: string) => void>();
  const reload = vi.fn();
  const confirm = vi.fn(() => true);
  viewer = await mountViewer(root, { fetchImpl: server.fetchImpl, navigate, reload, confirm, heartbeat: false, ...deps });
  if (!viewer) throw new Error("viewer did not mount");
  return { root, server, navigate, reload, confirm, v: viewer };
}

function key(k: string, init: KeyboardEventInit = {}, target: EventTarget = document.body): KeyboardEvent {
  const code = /^[0-9]$/.test(k) ? `Digit${k}` : k.length === 1 ? `Key${k.toUpperCase()}` : k;
  const e = new KeyboardEvent("keydown", { key: k, code, bubbles: true, cancelable: true, ...init });
  target.dispatchEvent(e);
  return e;
}

function pointer(target: Element, type: string, x: number, y: number, button = 0): void {
  target.dispatchEvent(new PointerEvent(type, { button, clientX: x, clientY: y, bubbles: true, cancelable: true }));
}

const $ = <T extends Element = HTMLElement>(root: ParentNode, sel: string): T => {
  const el = root.querySelector<T>(sel);
  if (!el) throw new Error(`missing ${sel}`);
  return el;
};

beforeEach(() => {
  // happy-dom has no layout: give the canvas a 400x400 box (image 40x40, fit margin 8 -> scale 9.6, offset 8).
  vi.spyOn(HTMLElement.prototype, "getBoundingClientRect").mockImplementation(
    () => ({ left: 0, top: 0, right: 400, bottom: 400, width: 400, height: 400, x: 0, y: 0, toJSON: () => ({}) }) as DOMRect,
  );
});
afterEach(() => {
  viewer?.destroy();
  viewer = null;
  document.body.replaceChildren();
});

describe("labeling viewer (DOM)", () => {
  it("builds the viewer and resumes at last_slice_index", async () => {
    const { root } = await mount();
    expect($(root, "[data-slice-info]").textContent).toBe("2 / 3");
    expect($(root, "[data-z]").textContent).toBe("z = 0.0 mm");
    expect(root.querySelectorAll(".vw-row")).toHaveLength(3);
    expect($(root, ".vw-row[data-slice='1']").getAttribute("aria-current")).toBe("true");
    expect($(root, ".vw-row[data-slice='0']").dataset["state"]).toBe("negative");
    expect($(root, ".vw-row[data-slice='2'] .vw-unlabeled")).toBeTruthy();
    expect($(root, ".vw-progress-text").textContent).toBe("Labeled 1 / 3 slices");
    expect($(root, ".vw-save").getAttribute("role")).toBe("status");
    expect($(root, "[data-wl]").textContent).toBe("Brain · W 80 L 40");
    for (const b of root.querySelectorAll("button")) expect(b.title || b.getAttribute("aria-label") || b.textContent).toBeTruthy();
    await until(() => expect(root.querySelectorAll(".vw-row.is-loaded")).toHaveLength(3));
  });

  it('pressing "1" PUTs the current slice\'s labels and shows "Saved"', async () => {
    const { root, server } = await mount();
    const e = key("1");
    expect(e.defaultPrevented).toBe(true);
    expect($(root, ".vw-save").textContent).toBe("Saving…");
    await until(() => expect($(root, ".vw-save").textContent).toBe("Saved"));
    expect(server.writes()).toEqual([
      { method: "PUT", url: `${READ_URL}labels`, body: { version: 7, slices: { "1": ["IPH"] }, last_slice_index: 1 } },
    ]);
    expect($(root, ".vw-save").dataset["state"]).toBe("saved");
    expect($(root, ".vw-row[data-slice='1'] .vw-chip").textContent).toBe("IPH");
    expect($(root, "[data-code='IPH'].vw-label-btn").getAttribute("aria-pressed")).toBe("true");
    expect($(root, ".vw-progress-text").textContent).toBe("Labeled 2 / 3 slices · haemorrhage on 1");
    expect($(root, "[data-armed-info]").textContent).toBe("Point: IPH"); // last toggled subtype is armed
  });

  it("scrolls, marks none, copies the previous slice, and chains versions", async () => {
    const { root, server } = await mount();
    key("5"); // slice 1: SAH
    key("ArrowDown");
    expect($(root, "[data-slice-info]").textContent).toBe("3 / 3");
    key("c"); // slice 2 <- slice 1
    key("ArrowUp");
    key("ArrowUp");
    key("0"); // slice 0 already none: no write
    await until(() => expect($(root, ".vw-save").textContent).toBe("Saved"));
    const bodies = server.writes().map((c) => c.body);
    // The copy may be coalesced or sent separately, but the chain is consistent.
    const sent = Object.assign({}, ...bodies.map((b) => (b as { slices: object }).slices));
    expect(sent).toEqual({ "1": ["SAH"], "2": ["SAH"] });
    expect(bodies.map((b) => (b as { version: number }).version)).toEqual(bodies.map((_, i) => 7 + i));
  });

  it("Shift+click selects a range and the next label keys apply to all of it", async () => {
    const { root, server } = await mount();
    $(root, ".vw-row[data-slice='0'] button").click();
    $(root, ".vw-row[data-slice='2'] button").dispatchEvent(new MouseEvent("click", { bubbles: true, shiftKey: true }));
    expect(root.querySelectorAll(".vw-row.in-range")).toHaveLength(3);
    expect($(root, "[data-range]").hidden).toBe(false);
    key("2");
    await until(() => expect($(root, ".vw-save").textContent).toBe("Saved"));
    expect(server.writes()[0]?.body).toEqual({
      version: 7,
      slices: { "0": ["IVH"], "1": ["IVH"], "2": ["IVH"] },
      last_slice_index: 2,
    });
    key("Escape");
    expect(root.querySelectorAll(".vw-row.in-range")).toHaveLength(0);
    key("ArrowUp", { shiftKey: true }); // Shift+arrow also makes a range (2..1)
    expect(root.querySelectorAll(".vw-row.in-range")).toHaveLength(2);
  });

  it("adds a point at the image pixel under the cursor, also after zooming", async () => {
    const { root, server, v } = await mount();
    const canvas = $(root, "canvas");
    expect(v.state.transform).toMatchObject({ scale: 9.6, tx: 8, ty: 8 });
    $(root, "[data-action='arm'][data-code='IPH']").click();
    pointer(canvas, "pointerdown", 22.4, 32); // image (1.5, 2.5)
    pointer(canvas, "pointerup", 22.4, 32);
    await until(() => expect(server.writes()).toHaveLength(1));
    expect(server.writes()[0]).toEqual({
      method: "POST",
      url: `${READ_URL}points`,
      body: { version: 7, slice_index: 1, x: 1.5, y: 2.5, subtype: "IPH" },
    });
    // Ctrl+wheel zoom about (200, 200), then click the screen position of image (30, 10).
    const wheel = new WheelEvent("wheel", { deltaY: -200, bubbles: true, cancelable: true, clientX: 200, clientY: 200 });
    // happy-dom's WheelEvent ignores the MouseEvent part of the init.
    for (const [k, value] of Object.entries({ ctrlKey: true, clientX: 200, clientY: 200 })) Object.defineProperty(wheel, k, { value });
    $(root, ".vw-stage").dispatchEvent(wheel);
    const t = v.state.transform;
    expect(t.scale).toBeCloseTo(9.6 * Math.exp(0.4));
    expect(t.tx).toBeCloseTo(200 - (200 - 8) * Math.exp(0.4)); // (200, 200) stayed put
    const sx = 30 * t.scale + t.tx;
    const sy = 10 * t.scale + t.ty;
    pointer(canvas, "pointerdown", sx, sy);
    pointer(canvas, "pointerup", sx, sy);
    await until(() => expect(server.writes()).toHaveLength(2));
    expect(server.writes()[1]?.body).toMatchObject({ version: 8, x: 30, y: 10 });
    expect($(root, ".vw-row[data-slice='1'] .vw-row-points").textContent).toBe("◎3");
  });

  it("drags a marker to move it and right-click deletes it", async () => {
    const { root, server, v } = await mount();
    const canvas = $(root, "canvas");
    // Existing point p-1 at image (0.5, 0.5) -> screen (12.8, 12.8); grab it 2 px off centre.
    pointer(canvas, "pointerdown", 14.8, 12.8);
    pointer(canvas, "pointermove", 40, 20);
    pointer(canvas, "pointermove", 106, 152);
    pointer(canvas, "pointerup", 106, 152); // moved by (91.2, 139.2) px = (9.5, 14.5) image px
    await until(() => expect(server.writes()).toHaveLength(1));
    expect(server.writes()[0]).toEqual({
      method: "PATCH",
      url: `${READ_URL}points/p-1`,
      body: { version: 7, x: 10, y: 15, subtype: "SAH" },
    });
    expect(v.state.selectedKey).toBe("p-1");
    pointer(canvas, "pointerdown", 104, 152, 2); // marker now at screen (104, 152)
    pointer(canvas, "pointerup", 104, 152, 2);
    await until(() => expect(server.writes()).toHaveLength(2));
    expect(server.writes()[1]).toMatchObject({ method: "DELETE", url: `${READ_URL}points/p-1?version=8` });
    expect(v.state.points).toHaveLength(0);
  });

  it("on 409 shows a blocking Reload prompt and sends nothing more", async () => {
    const { root, server, reload } = await mount();
    server.override.fn = (c) => (c.method === "PUT" ? json({ detail: "Stale version.", version: 9 }, 409) : undefined);
    key("1");
    await until(() => expect($(root, "[data-conflict]").hidden).toBe(false));
    expect($(root, "[data-conflict]").textContent).toContain(
      "This read was changed in another tab or window. Reload to see the latest version.",
    );
    expect($(root, ".vw-save").dataset["state"]).toBe("conflict");
    key("2");
    key("ArrowDown");
    await settle(2);
    expect(server.writes()).toHaveLength(1);
    $(root, "[data-action='reload']").click();
    expect(reload).toHaveBeenCalledOnce();
  });

  it("shows Offline and retries with backoff on network errors", async () => {
    const scheduler = new FakeScheduler();
    const { root, server } = await mount(readData(), { scheduler });
    let down = true;
    server.override.fn = (c) => {
      if (down && c.method === "PUT") throw new TypeError("Failed to fetch");
      return undefined;
    };
    key("3");
    await until(() => expect($(root, ".vw-save").dataset["state"]).toBe("offline"));
    expect($(root, ".vw-save").textContent).toBe("Offline — retrying in 1 s");
    down = false;
    scheduler.advance(1000);
    await until(() => expect($(root, ".vw-save").textContent).toBe("Saved"));
    expect(server.writes().map((c) => (c.body as { version: number }).version)).toEqual([7, 7]);
  });

  it("shows DRF error messages", async () => {
    const { root, server } = await mount();
    server.override.fn = (c) => (c.method === "PUT" ? json({ slices: ["Slice 1 is out of range."] }, 400) : undefined);
    key("1");
    await until(() => expect($(root, ".vw-save").dataset["state"]).toBe("error"));
    expect($(root, ".vw-save").textContent).toBe("Not saved: Slices: Slice 1 is out of range.");
  });

  it("excludes with a reason and note, and undoes it", async () => {
    const { root, server } = await mount();
    $(root, "[data-action='exclude-open']").click();
    const form = $<HTMLFormElement>(root, "[data-exclude-form]");
    expect(form.hidden).toBe(false);
    $<HTMLSelectElement>(form, "select").value = "surgery";
    const note = $<HTMLTextAreaElement>(form, "textarea");
    note.value = "craniotomy";
    key("1", {}, note); // typing in the note is not a label key
    form.dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    expect($(root, ".vw-excluded").textContent).toBe("Excluded: Post-surgical — craniotomy");
    $(root, "[data-action='include']").click();
    await until(() => expect(server.writes()).toHaveLength(2));
    expect(server.writes()).toEqual([
      { method: "POST", url: `${READ_URL}exclude`, body: { version: 7, reason: "surgery", note: "craniotomy" } },
      { method: "POST", url: `${READ_URL}include`, body: { version: 8 } },
    ]);
    expect($(root, "[data-action='exclude-open']")).toBeTruthy();
  });

  it("submits with Ctrl+Enter (after pending writes) and goes to next_url", async () => {
    const { server, navigate, confirm } = await mount();
    key("1");
    key("Enter", { ctrlKey: true });
    expect(confirm).toHaveBeenCalledWith("1 slice is not labeled yet. Submit anyway?");
    await until(() => expect(navigate).toHaveBeenCalledWith("/labeling/reads/13/"));
    expect(server.writes().map((c) => [c.url.split("/").pop(), (c.body as { version: number }).version])).toEqual([
      ["labels", 7],
      ["submit", 8],
    ]);
  });

  it("N / P go to the queue's next / previous case", async () => {
    const { navigate } = await mount();
    key("n");
    await until(() => expect(navigate).toHaveBeenCalledWith("/labeling/reads/13/"));
    key("P", { shiftKey: true });
    await until(() => expect(navigate).toHaveBeenCalledWith("/labeling/reads/11/"));
  });

  it("window presets by F-key and W chord, keymap overlay with ? and Esc", async () => {
    const { root } = await mount();
    key("F4");
    expect($(root, "[data-wl]").textContent).toBe("Bone · W 2800 L 600");
    key("w");
    key("2");
    expect($(root, "[data-wl]").textContent).toBe("Blood · W 40 L 60");
    expect($(root, "[data-preset='blood']").getAttribute("aria-pressed")).toBe("true");
    key("?", { shiftKey: true });
    expect($(root, "[data-keymap]").hidden).toBe(false);
    expect($(root, "[data-keymap]").textContent).toContain("Toggle SAH");
    key("Escape");
    expect($(root, "[data-keymap]").hidden).toBe(true);
  });

  it("is read-only when the read is submitted", async () => {
    const { root, server } = await mount(readData({ editable: false, status: "submitted" }));
    key("1");
    pointer($(root, "canvas"), "pointerdown", 152, 248);
    pointer($(root, "canvas"), "pointerup", 152, 248);
    await settle(2);
    expect(server.writes()).toHaveLength(0);
    expect($(root, "[data-banner]").textContent).toBe("Submitted — read-only");
    expect($<HTMLButtonElement>(root, "[data-code='IPH'].vw-label-btn").disabled).toBe(true);
    expect($(root, "[data-action='submit']").hidden).toBe(true);
    key("ArrowDown"); // viewing still works
    expect($(root, "[data-slice-info]").textContent).toBe("3 / 3");
  });

  it("shows the two reference reads of an adjudication", async () => {
    const { root } = await mount(
      readData({
        kind: "adjudication",
        adjudication: {
          reads: [
            { label: "Reader A", labels: { "1": ["IPH"] }, points: [] },
            { label: "Reader B", labels: { "1": [] }, points: [{ id: "b1", slice_index: 1, x: 2, y: 2, subtype: null }] },
          ],
        },
      }),
    );
    const ref = $(root, "[data-reference]");
    expect(ref.textContent).toContain("Reader A");
    expect(ref.textContent).toContain("Reader B");
    expect($(ref, "tr:first-child .vw-chip").textContent).toBe("IPH");
    expect($(ref, "tr:nth-child(2) .vw-chip-none")).toBeTruthy();
    expect($(root, ".vw-row[data-slice='1'] .vw-row-ref[data-ref='0'] .vw-chip").textContent).toBe("IPH");
  });

  it("sends heartbeats while the user is active", async () => {
    const scheduler = new FakeScheduler();
    const { server } = await mount(readData(), { heartbeat: true, scheduler, now: () => scheduler.now });
    scheduler.advance(15000);
    await settle(1);
    expect(server.calls.filter((c) => c.url.endsWith("/heartbeat"))).toEqual([
      { method: "POST", url: `${READ_URL}heartbeat`, body: { seconds: 15 } },
    ]);
  });

  it("shows the API error when the read cannot be loaded", async () => {
    document.body.innerHTML = `<div id="viewer" data-read-url="${READ_URL}"></div>`;
    const root = document.getElementById("viewer")!;
    const fetchImpl = (async () => json({ detail: "Not found." }, 404)) as typeof fetch;
    expect(await mountViewer(root, { fetchImpl })).toBeNull();
    expect(root.textContent).toContain("Could not load the case: Not found.");
  });
});
