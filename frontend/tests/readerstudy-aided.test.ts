import { afterEach, describe, expect, it, vi } from "vitest";

import { mountTask } from "../src/readerstudy";
import { answerText, callRows, exemplarsAt, nearestOverlay, overlayAt, percentText, readBase, readLabel, sliceChart } from "../src/readerstudy/aided";
import type { CaseDoc, ModelOutput, TaskRow } from "../src/readerstudy/model";
import { renderPlot } from "../src/readerstudy/plot";
import type { ReadTask } from "../src/readerstudy/reads";
import { arrowsSpec, modalityRocSpec, plotShapes } from "../src/readerstudy/roc";

const STUDY = "/api/v1/reader-studies/3";
const API = `${STUDY}/cases`;
const AIDED = `${STUDY}/aided-cases`;

const model: ModelOutput = {
  label: "ANY",
  labels: ["IPH", "ANY"],
  case: {
    IPH: { probability: 0.1, threshold: 0.5, call: false },
    ANY: { probability: 0.864213, threshold: 0.5, call: true },
  },
  slice_probabilities: [0.1, 0.6, 0.9, 0.2],
  overlays: [
    { index: 1, probability: 0.6, url: `${AIDED}/8/slices/1/overlay.png` },
    { index: 2, probability: 0.9, url: `${AIDED}/8/slices/2/overlay.png` },
  ],
  exemplars: [
    { number: 1, slice: 1, patch_url: `${AIDED}/8/exemplars/1/patch.png`, map_url: `${AIDED}/8/exemplars/1/map.png` },
    { number: 2, slice: 2, patch_url: `${AIDED}/8/exemplars/2/patch.png`, map_url: `${AIDED}/8/exemplars/2/map.png` },
  ],
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

function server(routes: Record<string, (body: unknown) => Response>) {
  const calls: { method: string; url: string; body: unknown }[] = [];
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

function doc(overrides: Partial<CaseDoc> = {}): CaseDoc {
  const modality = overrides.modality ?? "unaided";
  const base = modality === "aided" ? AIDED : API;
  return {
    id: 8,
    number: 1,
    total: 1,
    previous: null,
    next: null,
    n_slices: 4,
    rows: 64,
    columns: 64,
    slices: [0, 1, 2, 3].map((i) => ({ index: i, image_url: `${base}/8/slices/${i}/image.png` })),
    read: null,
    editable: true,
    modality,
    session: 1,
    sessions: 1,
    url: `${base}/8`,
    ...overrides,
  };
}

function mountRoot(apiUrl: string): HTMLElement {
  document.body.innerHTML = `<div id="readerstudy" data-task="read" data-api-url="${apiUrl}" data-study-url="/reader-studies/3/"><p data-role="status">Loading…</p></div>`;
  return document.getElementById("readerstudy")!;
}

afterEach(() => {
  document.body.innerHTML = "";
});

describe("aided helpers", () => {
  it("turns the model's case output into rows of calls", () => {
    expect(callRows(model)).toEqual([
      { label: "IPH", probability: "10.0 %", threshold: "50.0 %", call: "negative", positive: false },
      { label: "ANY", probability: "86.4 %", threshold: "50.0 %", call: "positive", positive: true },
    ]);
    expect(percentText(null)).toBe("—");
  });
  it("finds a slice's overlay and exemplars, and the nearest positive slice", () => {
    expect(overlayAt(model, 2)).toBe(`${AIDED}/8/slices/2/overlay.png`);
    expect(overlayAt(model, 0)).toBeNull();
    expect(exemplarsAt(model, 2).map((e) => e.number)).toEqual([2]);
    expect(exemplarsAt(model, 3).map((e) => e.number)).toEqual([1, 2]); // a slice without: all of them
    expect(nearestOverlay(model, 0)).toBe(1);
    expect(nearestOverlay(model, 3)).toBe(2);
    expect(nearestOverlay({ ...model, overlays: [] }, 3)).toBeNull();
  });
  it("draws the slice chart in its box, the threshold and the shown slice", () => {
    const chart = sliceChart([0, 1, 0.5], 0.5, 1, 104, 54);
    expect(chart.points).toBe("2,52 52,2 102,27");
    expect(chart.threshold).toBe(27);
    expect(chart.marker).toEqual({ x: 52, y: 2 });
    expect(sliceChart([0.2], null, 3).marker).toBeNull();
  });
  it("says a read in words and finds a read's routes", () => {
    expect(answerText({ ich: true, subtypes: ["IPH", "SAH"], confidence: 80 })).toBe("ICH present (Intraparenchymal, Subarachnoid), confidence 80");
    expect(answerText({ ich: false, subtypes: [], confidence: 60 })).toBe("no ICH, confidence 60");
    const { url: _url, ...without } = doc();
    expect(readBase(without, API)).toBe(`${API}/8`);
    expect(readBase(doc({ modality: "aided" }), API)).toBe(`${AIDED}/8`);
    expect(readLabel(doc({ modality: "aided", session: 2, sessions: 2 }))).toEqual({ prefix: "Session 2 of 2 · ", suffix: " · with the model's output" });
    expect(readLabel(doc())).toEqual({ prefix: "", suffix: "" });
  });
});

describe("the MRMC plots", () => {
  const roc = {
    available: true,
    reason: null,
    modalities: [
      { treatment: "aided", auc: 0.9, ci_lower: 0.8, ci_upper: 1, mean_curve: { fpr: [0, 0, 1], tpr: [0, 0.8, 1] }, readers: [{ reader: "carol", auc: 0.9, fpr: [0, 1], tpr: [0, 1] }] },
      { treatment: "unaided", auc: 0.7, ci_lower: 0.5, ci_upper: 0.9, mean_curve: { fpr: [0, 1], tpr: [0, 1] }, readers: [] },
    ],
  };
  it("draws each modality's mean curve over its readers' curves", () => {
    const spec = modalityRocSpec(roc);
    expect(spec.curves.map((c) => [c.label, c.width])).toEqual([
      ["aided · carol", 0.6],
      ["aided · mean", 2.2],
      ["unaided · mean", 2.2],
    ]);
    expect(spec.legend[0]).toEqual({ label: "aided: mean AUC 0.900 (0.800–1.000)", colour: "#dc2626" });
  });
  it("joins each reader's unaided and aided operating points by an arrow on the model's curve", () => {
    const point = (fpr: number, tpr: number) => ({ fpr, tpr, sensitivity: tpr, specificity: 1 - fpr, n: 6 });
    const spec = arrowsSpec({
      available: true,
      reason: null,
      model: { fpr: [0, 1], tpr: [0, 1], auc: 0.5, n: 6 },
      readers: [
        { reader: "carol", unaided: point(0.5, 0.5), aided: point(0, 1) },
        { reader: "rita", unaided: point(0.2, 0.8), aided: point(0.2, 0.8) },
      ],
    });
    expect(spec.arrows).toEqual([{ label: "carol", from: { x: 0.5, y: 0.5 }, to: { x: 0, y: 1 }, colour: "#16a34a" }]); // none for no change
    expect(spec.points.filter((p) => p.hollow).map((p) => p.label)).toEqual(["carol unaided", "rita unaided"]);
    const shapes = plotShapes(spec, 320);
    const arrow = shapes.find((s) => s.kind === "arrow");
    expect(arrow).toMatchObject({ x1: 175, y1: 151, x2: 40, y2: 16 }); // (0.5, 0.5) -> (0, 1) in a 270-unit square from (40, 286), y downwards
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    document.body.append(svg);
    renderPlot(svg, spec);
    expect(svg.querySelectorAll("line[data-arrow]")).toHaveLength(1);
    expect(svg.querySelectorAll("marker")).toHaveLength(1);
    expect(svg.querySelectorAll("circle[data-point]")).toHaveLength(4);
    expect(document.querySelectorAll(".rs-legend li")).toHaveLength(3);
    renderPlot(svg, spec);
    expect(document.querySelectorAll(".rs-legend")).toHaveLength(1);
  });
});

describe("a sequential read", () => {
  it("submits the unaided read, opens the model's output, shows it, and submits the aided read", async () => {
    const rows: TaskRow[] = [{ id: 8, number: 1, submitted: false, url: `${API}/8`, modality: "unaided", session: 1 }];
    const answered = { ich: true, subtypes: [], confidence: 60 };
    const { fetchImpl, calls } = server({
      [`GET ${API}`]: () => json({ count: 1, next: null, previous: null, results: rows }),
      [`GET ${API}/8`]: () => json(doc({ aided: { url: `${AIDED}/8`, open: false, opened: false, submitted: false } })),
      [`PUT ${API}/8/read`]: () => json(doc({ read: answered, editable: false, aided: { url: `${AIDED}/8`, open: true, opened: false, submitted: false } })),
      [`POST ${API}/8/heartbeat`]: () => new Response(null, { status: 204 }),
      [`GET ${AIDED}/8`]: () => json(doc({ modality: "aided", unaided: { read: answered, editable: false, url: `${API}/8` }, model })),
      [`PUT ${AIDED}/8/read`]: () => json(doc({ modality: "aided", read: { ich: true, subtypes: [], confidence: 95 }, editable: false, model })),
      [`POST ${AIDED}/8/heartbeat`]: () => new Response(null, { status: 204 }),
    });
    const root = mountRoot(API);
    const task = (await mountTask(root, { fetchImpl })) as unknown as ReadTask;
    task.heartbeat.stop();
    const show = root.querySelector<HTMLButtonElement>("[data-role=show-aided]")!;
    const panel = root.querySelector<HTMLElement>("[data-role=model]")!;
    expect(show.hidden).toBe(true);
    expect(panel.hidden).toBe(true);

    root.querySelector<HTMLInputElement>("[data-role=ich-yes]")!.checked = true;
    root.querySelector<HTMLInputElement>("[data-role=confidence]")!.value = "60";
    root.querySelector<HTMLButtonElement>("[data-role=submit]")!.click();
    await vi.waitFor(() => expect(show.hidden).toBe(false));
    expect(root.querySelector("[data-role=message]")!.textContent).toContain("open the model's output");
    expect(root.querySelector("[data-role=finished]")).toBeNull();

    show.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=heading]")!.textContent).toBe("Case 1 of 1 · with the model's output"));
    expect(panel.hidden).toBe(false);
    expect(root.querySelector("[data-label=ANY]")!.textContent).toContain("86.4 %");
    expect(root.querySelector("[data-role=unaided-answer]")!.textContent).toBe("Your unaided read (locked): ICH present, confidence 60");
    const overlay = root.querySelector<HTMLImageElement>("[data-role=overlay]")!;
    expect(overlay.hidden).toBe(false);
    expect(overlay.src).toContain(`${AIDED}/8/slices/2/overlay.png`); // the positive slice nearest the middle
    expect(root.querySelector<HTMLImageElement>("[data-role=image]")!.src).toContain(`${AIDED}/8/slices/2/image.png`);
    expect([...root.querySelectorAll("[data-exemplar]")].map((e) => e.getAttribute("data-exemplar"))).toEqual(["2"]);
    const toggle = root.querySelector<HTMLInputElement>("[data-role=overlay-toggle]")!;
    toggle.checked = false;
    toggle.dispatchEvent(new Event("change"));
    expect(overlay.style.opacity).toBe("0");
    task.showSlice(0);
    expect(overlay.hidden).toBe(true);
    expect(root.querySelector("[data-role=slice-chart] circle")!.getAttribute("cx")).toBe("2");

    root.querySelector<HTMLInputElement>("[data-role=ich-yes]")!.checked = true;
    root.querySelector<HTMLInputElement>("[data-role=confidence]")!.value = "95";
    root.querySelector<HTMLButtonElement>("[data-role=submit]")!.click();
    await vi.waitFor(() => expect(root.querySelector("[data-role=finished]")).not.toBeNull());
    const puts = calls.filter((c) => c.method === "PUT").map((c) => [c.url, (c.body as { confidence: number }).confidence]);
    expect(puts).toEqual([[`${API}/8/read`, 60], [`${AIDED}/8/read`, 95]]);
    const beats = calls.filter((c) => c.method === "POST").map((c) => c.url);
    // A beat with each submission; none when opening the model's output (the unaided read is in, not editable).
    expect(beats).toEqual([`${API}/8/heartbeat`, `${AIDED}/8/heartbeat`]);
  });

  it("opens a crossover read of session 2 with its session in the heading", async () => {
    const rows: TaskRow[] = [{ id: 8, number: 1, submitted: false, url: `${AIDED}/8`, modality: "aided", session: 2 }];
    const { fetchImpl } = server({
      [`GET ${API}`]: () => json({ count: 1, next: null, previous: null, results: rows }),
      [`GET ${AIDED}/8`]: () => json(doc({ modality: "aided", session: 2, sessions: 2, unaided: null, model })),
    });
    const root = mountRoot(API);
    await mountTask(root, { fetchImpl });
    expect(root.querySelector("[data-role=heading]")!.textContent).toBe("Session 2 of 2 · Case 1 of 1 · with the model's output");
    expect(root.querySelector<HTMLElement>("[data-role=unaided-answer]")!.hidden).toBe(true);
    expect(root.querySelector<HTMLElement>("[data-role=show-aided]")!.hidden).toBe(true);
  });
});
