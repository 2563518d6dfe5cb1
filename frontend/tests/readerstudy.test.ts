import { afterEach, describe, expect, it, vi } from "vitest";

import { mountTask } from "../src/readerstudy";
import {
  type CaseDoc,
  fetchAll,
  hitIndex,
  type LocaliseDoc,
  nextOpen,
  type Point,
  type QuestionDoc,
  readPayload,
  type TaskRow,
  toImagePoint,
  togglePoint,
} from "../src/readerstudy/model";
import type { LocaliseTask } from "../src/readerstudy/points";
import type { ReadTask } from "../src/readerstudy/reads";
import { rocDatasets } from "../src/readerstudy/roc";

const API = "/api/v1/reader-studies/3/cases";

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

interface Call {
  method: string;
  url: string;
  body: unknown;
}

/** A fake server: `routes["GET /url"]` answers; every call is recorded. */
function server(routes: Record<string, (body: unknown) => Response>) {
  const calls: Call[] = [];
  const fetchImpl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = init?.method ?? "GET";
    const body = typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : undefined;
    calls.push({ method, url, body });
    const route = routes[`${method} ${url}`];
    return route ? route(body) : json({ detail: `no route ${method} ${url}` }, 404);
  }) as typeof fetch;
  return { fetchImpl, calls };
}

function mountRoot(task: string, apiUrl: string): HTMLElement {
  document.body.innerHTML = `<div id="readerstudy" data-task="${task}" data-api-url="${apiUrl}" data-study-url="/reader-studies/3/"><p data-role="status">Loading…</p></div>`;
  return document.getElementById("readerstudy")!;
}

const row = (id: number, number: number, submitted = false): TaskRow => ({ id, number, submitted, url: `${API}/${id}` });

function caseDoc(id: number, number: number, overrides: Partial<CaseDoc> = {}): CaseDoc {
  return {
    id,
    number,
    total: 2,
    previous: number === 1 ? null : 7,
    next: number === 1 ? 8 : null,
    n_slices: 4,
    rows: 64,
    columns: 64,
    slices: [0, 1, 2, 3].map((i) => ({ index: i, image_url: `${API}/${id}/slices/${i}/image.png` })),
    read: null,
    editable: true,
    ...overrides,
  };
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("model helpers", () => {
  it("pages through a list", async () => {
    const pages: Record<string, { count: number; next: string | null; previous: null; results: number[] }> = {
      a: { count: 3, next: "b", previous: null, results: [1, 2] },
      b: { count: 3, next: null, previous: null, results: [3] },
    };
    expect(await fetchAll("a", async (url) => pages[url]!)).toEqual([1, 2, 3]);
  });
  it("finds the next open row after the current one, wrapping round", () => {
    const rows = [row(1, 1, true), row(2, 2), row(3, 3, true), row(4, 4)];
    expect(nextOpen(rows)?.id).toBe(2);
    expect(nextOpen(rows, 2)?.id).toBe(4);
    expect(nextOpen(rows, 4)?.id).toBe(2);
    expect(nextOpen(rows.map((r) => ({ ...r, submitted: true })))).toBeNull();
  });
  it("maps a click to slice pixels with pixel centres at integers, clamped", () => {
    const box = { left: 10, top: 20, width: 128, height: 128 };
    expect(toImagePoint(10 + 65, 20 + 65, box, 64, 64)).toEqual([32, 32]);
    expect(toImagePoint(0, 0, box, 64, 64)).toEqual([0, 0]);
    expect(toImagePoint(500, 500, box, 64, 64)).toEqual([63, 63]);
  });
  it("adds a point, and removes the nearest one when clicked on", () => {
    let points: Point[] = [];
    points = togglePoint(points, [10, 10], 2);
    points = togglePoint(points, [20, 20], 2);
    expect(hitIndex(points, [19, 21], 2)).toBe(1);
    points = togglePoint(points, [11, 10], 2);
    expect(points).toEqual([[20, 20]]);
  });
  it("checks the read form", () => {
    expect(readPayload(null, [], 50)).toEqual({ ok: false, message: "Say whether ICH is present." });
    expect(readPayload(true, ["IPH"], 101).ok).toBe(false);
    expect(readPayload(false, ["IPH"], 40)).toEqual({ ok: true, body: { ich: false, subtypes: [], confidence: 40 } });
  });
  it("draws the model's curve, and a curve and an operating point per participant", () => {
    const sets = rocDatasets({
      model: { auc: 0.9, fpr: [0, 1], tpr: [0, 1] },
      participants: [
        { participant: "carol", ich: { point: { fpr: 0.25, tpr: 0.75 } }, roc: { auc: 0.8, fpr: [0, 0.25, 1], tpr: [0, 0.75, 1] } },
        { participant: "rita", ich: { point: { fpr: null, tpr: 1 } }, roc: null },
      ],
    });
    expect(sets.map((s) => s.label)).toEqual(["model (AUC 0.900)", "carol (AUC 0.800)", "carol operating point"]);
    expect(sets[1]!.data).toEqual([{ x: 0, y: 0 }, { x: 0.25, y: 0.75 }, { x: 1, y: 1 }]);
  });
});

describe("case reads", () => {
  it("opens the first unread case, needs an ICH answer, submits and moves on", async () => {
    const { fetchImpl, calls } = server({
      [`GET ${API}`]: () => json({ count: 2, next: null, previous: null, results: [row(7, 1, true), row(8, 2)] }),
      [`GET ${API}/8`]: () => json(caseDoc(8, 2)),
      [`PUT ${API}/8/read`]: () => json(caseDoc(8, 2, { read: { ich: true, subtypes: ["SDH"], confidence: 70 }, editable: false })),
    });
    const root = mountRoot("read", API);
    const task = (await mountTask(root, { fetchImpl })) as unknown as ReadTask;
    expect(root.querySelector("[data-role=heading]")!.textContent).toBe("Case 2 of 2");
    const image = root.querySelector<HTMLImageElement>("[data-role=image]")!;
    expect(image.src).toContain(`${API}/8/slices/2/image.png?preset=brain`);
    task.showSlice(3);
    expect(image.src).toContain("/slices/3/image.png");

    const sdh = root.querySelector<HTMLInputElement>("[data-subtype=SDH]")!;
    expect(sdh.disabled).toBe(true);
    root.querySelector<HTMLButtonElement>("[data-role=submit]")!.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=message]")!.textContent).toContain("ICH is present"));
    expect(calls.filter((c) => c.method === "PUT")).toHaveLength(0);

    const yes = root.querySelector<HTMLInputElement>("[data-role=ich-yes]")!;
    yes.checked = true;
    yes.dispatchEvent(new Event("change"));
    expect(sdh.disabled).toBe(false);
    sdh.checked = true;
    const confidence = root.querySelector<HTMLInputElement>("[data-role=confidence]")!;
    confidence.value = "70";
    root.querySelector<HTMLButtonElement>("[data-role=submit]")!.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=finished]")).not.toBeNull());
    expect(calls.find((c) => c.method === "PUT")!.body).toEqual({ ich: true, subtypes: ["SDH"], confidence: 70 });
    expect(root.querySelector("[data-role=finished]")!.textContent).toContain("2 of 2 done");
  });

  it("opens the first case for review when every case is read", async () => {
    const { fetchImpl } = server({
      [`GET ${API}`]: () => json({ count: 2, next: null, previous: null, results: [row(7, 1, true), row(8, 2, true)] }),
      [`GET ${API}/7`]: () => json(caseDoc(7, 1, { read: { ich: false, subtypes: [], confidence: 90 }, editable: false })),
    });
    const root = mountRoot("read", API);
    await mountTask(root, { fetchImpl });
    expect(root.querySelector("[data-role=heading]")!.textContent).toBe("Case 1 of 2 · answered");
    expect(root.querySelector("[data-role=message]")!.textContent).toContain("All 2 done");
    expect(root.querySelector<HTMLInputElement>("[data-role=ich-no]")!.checked).toBe(true);
    expect(root.querySelector<HTMLButtonElement>("[data-role=submit]")!.disabled).toBe(true);
  });

  it("sends heartbeats only for an editable read", async () => {
    const { fetchImpl, calls } = server({
      [`GET ${API}`]: () => json({ count: 1, next: null, previous: null, results: [row(8, 1)] }),
      [`GET ${API}/8`]: () => json(caseDoc(8, 1)),
      [`POST ${API}/8/heartbeat`]: () => new Response(null, { status: 204 }),
    });
    const task = (await mountTask(mountRoot("read", API), { fetchImpl })) as unknown as ReadTask;
    task.heartbeat.stop();
    task.beatFrom = Date.now() - 15_000;
    expect(task.heartbeat.tick()).toBe(true);
    const beat = calls.at(-1)!;
    expect(beat).toMatchObject({ method: "POST", url: `${API}/8/heartbeat` });
    expect((beat.body as { seconds: number }).seconds).toBeCloseTo(15, 0);
    task.doc = { ...task.doc!, editable: false };
    const before = calls.length;
    task.heartbeat.tick();
    expect(calls.length).toBe(before);
  });
});

describe("localisation and questionnaire", () => {
  const LOC = "/api/v1/reader-studies/3/localisation";
  const item: LocaliseDoc = {
    id: 5,
    number: 1,
    total: 1,
    previous: null,
    next: null,
    rows: 64,
    columns: 64,
    image_url: `${LOC}/5/image.png`,
    points: [],
    submitted: false,
    editable: true,
  };

  it("marks points by clicking and submits them", async () => {
    const { fetchImpl, calls } = server({
      [`GET ${LOC}`]: () => json({ count: 1, next: null, previous: null, results: [{ id: 5, number: 1, submitted: false, url: `${LOC}/5` }] }),
      [`GET ${LOC}/5`]: () => json(item),
      [`PUT ${LOC}/5`]: () => json({ ...item, submitted: true }),
    });
    const root = mountRoot("localise", LOC);
    const task = (await mountTask(root, { fetchImpl })) as unknown as LocaliseTask;
    task.stage.image.getBoundingClientRect = () => ({ left: 0, top: 0, width: 64, height: 64 }) as DOMRect;
    const stage = root.querySelector<HTMLElement>("[data-role=stage]")!;
    stage.dispatchEvent(new MouseEvent("click", { clientX: 32.5, clientY: 20.5, bubbles: true }));
    stage.dispatchEvent(new MouseEvent("click", { clientX: 10.5, clientY: 10.5, bubbles: true }));
    stage.dispatchEvent(new MouseEvent("click", { clientX: 11, clientY: 10.5, bubbles: true })); // removes it
    expect(task.points).toEqual([[32, 20]]);
    expect(root.querySelectorAll("circle[data-layer=edit]")).toHaveLength(1);
    expect(root.querySelector("[data-role=count]")!.textContent).toBe("1 point");
    root.querySelector<HTMLButtonElement>("[data-role=save]")!.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=finished]")).not.toBeNull());
    expect(calls.find((c) => c.method === "PUT")!.body).toEqual({ points: [[32, 20]] });
  });

  it("shows why the questionnaire is locked", async () => {
    const Q = "/api/v1/reader-studies/3/questionnaire";
    const detail = "The prediction-basis questionnaire opens only after the localisation task is finished: 1 of 2 slices marked.";
    const { fetchImpl } = server({ [`GET ${Q}`]: () => json({ detail }, 409) });
    const root = mountRoot("questionnaire", Q);
    await mountTask(root, { fetchImpl });
    expect(root.querySelector("[data-role=status]")!.textContent).toBe(detail);
    expect(root.querySelector<HTMLAnchorElement>("a.btn")!.getAttribute("href")).toBe("/reader-studies/3/");
    expect(root.querySelector("[data-role=body]")!.hasAttribute("hidden")).toBe(true);
  });

  it("offers four lettered sets over the overlay and submits the choice", async () => {
    const Q = "/api/v1/reader-studies/3/questionnaire";
    const question: QuestionDoc = {
      ...item,
      image_url: `${Q}/5/image.png`,
      overlay_url: `${Q}/5/overlay.png`,
      options: ["a", "b", "c", "d"].map((letter) => ({ letter, patch_url: `${Q}/5/options/${letter}/patch.png`, map_url: `${Q}/5/options/${letter}/map.png` })),
      choice: null,
    };
    const { fetchImpl, calls } = server({
      [`GET ${Q}`]: () => json({ count: 1, next: null, previous: null, results: [{ id: 5, number: 1, submitted: false, url: `${Q}/5` }] }),
      [`GET ${Q}/5`]: () => json(question),
      [`PUT ${Q}/5`]: () => json({ ...question, choice: "c", editable: false }),
    });
    const root = mountRoot("questionnaire", Q);
    await mountTask(root, { fetchImpl });
    const overlay = root.querySelector<HTMLImageElement>("[data-role=overlay]")!;
    expect(overlay.hidden).toBe(false);
    expect(overlay.style.opacity).toBe("0.5");
    expect([...root.querySelectorAll<HTMLInputElement>("[data-letter]")].map((r) => r.value)).toEqual(["a", "b", "c", "d"]);
    root.querySelector<HTMLInputElement>("[data-letter=c]")!.checked = true;
    root.querySelector<HTMLButtonElement>("[data-role=submit]")!.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=finished]")).not.toBeNull());
    expect(calls.find((c) => c.method === "PUT")!.body).toEqual({ choice: "c" });
  });
});
