import { describe, expect, it } from "vitest";

import { callText, chartSeries, explainedSlices, initialSlice, mapsOnSlice, percent, pickMap, ready, type ReviewDoc } from "../src/review/model";

function doc(): ReviewDoc {
  const slices = [0, 1, 2, 3].map((i) => ({ index: i, id: 10 + i, image_url: `/api/v1/slices/${10 + i}/image.png` }));
  const map = (index: number, label: string) => ({
    id: index * 10 + label.length,
    index,
    label,
    arch: "tiny",
    probability: 0.9,
    area_percent: 8.5,
    map_url: "m",
    overlay_url: "o",
    basis: [],
  });
  return {
    series: { id: 1, study: 1, n_slices: 4, rows: 64, columns: 64, slices },
    job: { id: 1, status: "succeeded", progress: 1, message: "", error: "", url: "" },
    labels: ["IPH", "ANY"],
    thresholds: { IPH: 0.3, ANY: null },
    case: { IPH: { probability: 0.8, positive: true }, ANY: { probability: 0.9, positive: null } },
    slice_probabilities: [
      [0.1, 0.2],
      [0.8, 0.9],
      [0.3, 0.95],
      [0.0, 0.1],
    ],
    maps: [map(1, "IPH"), map(1, "ANY"), map(2, "ANY")],
  };
}

describe("review model", () => {
  it("is ready only for a succeeded job with probabilities", () => {
    expect(ready(doc())).toBe(true);
    expect(ready({ ...doc(), job: null })).toBe(false);
  });
  it("opens the most probable any-ICH slice", () => {
    expect(initialSlice(doc())).toBe(2);
    const { slice_probabilities: _dropped, ...withoutProbs } = doc();
    expect(initialSlice(withoutProbs)).toBe(2);
  });
  it("finds maps of a slice and picks the chosen label, else ANY", () => {
    const d = doc();
    expect(mapsOnSlice(d, 1).map((m) => m.label)).toEqual(["IPH", "ANY"]);
    expect(pickMap(mapsOnSlice(d, 1), "IPH")!.label).toBe("IPH");
    expect(pickMap(mapsOnSlice(d, 2), "IPH")!.label).toBe("ANY");
    expect(pickMap(mapsOnSlice(d, 3), "IPH")).toBeNull();
    expect(explainedSlices(d)).toEqual([1, 2]);
  });
  it("builds one chart series per label in label order, with thresholds", () => {
    const series = chartSeries(doc());
    expect(series.map((s) => s.label)).toEqual(["IPH", "ANY"]);
    expect(series[0]!.values).toEqual([0.1, 0.8, 0.3, 0.0]);
    expect(series[0]!.threshold).toBe(0.3);
    expect(series[1]!.threshold).toBeNull();
  });
  it("formats percents and calls", () => {
    expect(percent(0.1234)).toBe("12.3 %");
    expect(percent(null)).toBe("—");
    expect(callText(true)).toBe("positive");
    expect(callText(null)).toBe("no decision");
  });
});

describe("study context", () => {
  it("hides reads until reading is over and names disagreements", async () => {
    const { summaryLine, renderContext } = await import("../src/review/context");
    const hidden = { project: { id: 1, name: "P" }, reading_over: false };
    expect(summaryLine(hidden)).toContain("reads stay hidden");
    const over = {
      project: { id: 1, name: "P" },
      reading_over: true,
      reads: [
        { reader: "bob", excluded: false, IPH: 1, ANY: 1 },
        { reader: "barbara", excluded: false, IPH: 0, ANY: 1 },
      ],
      unanimous: { IPH: false, ANY: true },
      project_fleiss_kappa_any: 0.5,
      project_percent_agreement_any: 0.75,
      model_auc_any: 0.9,
    };
    expect(summaryLine(over)).toContain("readers differ on IPH");
    expect(summaryLine(over)).toContain("0.500");
    const target = document.createElement("div");
    renderContext(target, { series: 1, ground_truth: { IPH: 1, ANY: 1 }, projects: [over] }, ["IPH", "ANY"]);
    expect(target.querySelectorAll("tbody tr")).toHaveLength(2);
    expect(target.textContent).toContain("Ground truth: IPH, ANY");
  });
});

describe("mountReview while the job runs", () => {
  it("shows the job's progress bar, then its error", async () => {
    const { vi } = await import("vitest");
    const { mountReview } = await import("../src/review");
    vi.useFakeTimers();
    document.body.innerHTML = `<div id="review" data-review-url="/r"><p data-role="status"></p>
      <progress data-role="job-progress" max="1" hidden></progress><section data-role="body" hidden></section></div>`;
    const root = document.getElementById("review")!;
    const base = doc();
    const running = { ...base, job: { ...base.job!, status: "running", progress: 0.5, message: "predicting 8 slices" } };
    const failed = { ...base, job: { ...base.job!, status: "failed", error: "CUDA out of memory" } };
    const docs = [running, failed];
    const done = mountReview(root, async () => docs.shift()!);
    await vi.advanceTimersByTimeAsync(0);
    const bar = root.querySelector<HTMLProgressElement>("[data-role=job-progress]")!;
    expect(bar.hidden).toBe(false);
    expect(bar.value).toBe(0.5);
    expect(root.querySelector("[data-role=status]")!.textContent).toContain("predicting 8 slices (50 %)");
    await vi.advanceTimersByTimeAsync(2000);
    await done;
    expect(root.querySelector("[data-role=status]")!.textContent).toContain("CUDA out of memory");
    vi.useRealTimers();
  });
});
