import { describe, expect, it } from "vitest";

import { renderRun } from "../src/modeling";
import { archFraction, archRows, badgeClass, fmt, overallFraction } from "../src/modeling/progress";

describe("archFraction", () => {
  it("counts finished epochs plus the current epoch's share of steps", () => {
    expect(archFraction({ epoch: 1, max_epochs: 4, step: 5, steps_per_epoch: 10 })).toBeCloseTo(0.125);
    expect(archFraction({ epoch: 3, max_epochs: 4, step: 10, steps_per_epoch: 10 })).toBeCloseTo(0.75);
  });
  it("is 1 when done and 0 without an epoch budget", () => {
    expect(archFraction({ done: true })).toBe(1);
    expect(archFraction({ epoch: 2 })).toBe(0);
  });
  it("never exceeds 1 when a step count overshoots", () => {
    expect(archFraction({ epoch: 4, max_epochs: 4, step: 50, steps_per_epoch: 10 })).toBe(1);
  });
});

describe("overallFraction", () => {
  it("shares 90 % between nets, adds assembly, and is 1 on success", () => {
    const progress = { archs: { a: { done: true }, b: { epoch: 1, max_epochs: 2, step: 0, steps_per_epoch: 4 } } };
    expect(overallFraction({ status: "running", progress })).toBeCloseTo(0.45);
    expect(overallFraction({ status: "running", progress: { stage: "assemble", archs: { a: { done: true } } } })).toBeCloseTo(0.95);
    expect(overallFraction({ status: "succeeded", progress: {} })).toBe(1);
    expect(overallFraction({ status: "queued", progress: {} })).toBe(0);
  });
});

describe("rows and formatting", () => {
  it("formats numbers and missing values", () => {
    expect(fmt(0.12345)).toBe("0.123");
    expect(fmt(null)).toBe("—");
    expect(fmt(Number.NaN)).toBe("—");
  });
  it("builds one row per net", () => {
    const rows = archRows({ archs: { tiny: { epoch: 2, max_epochs: 3, step: 4, steps_per_epoch: 8, loss: 0.5, val_map: 0.25, done: false } } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ arch: "tiny", epoch: "2 / 3", step: "4 / 8", loss: "0.5000", valMap: "0.250" });
  });
  it("maps statuses to badge classes", () => {
    expect(badgeClass("failed")).toContain("danger");
    expect(badgeClass("succeeded")).toContain("success");
    expect(badgeClass("running")).toContain("info");
  });
});

describe("renderRun", () => {
  it("updates status, bar, rows, error and removes the cancel form when finished", () => {
    document.body.innerHTML = `<div id="r"><span data-field="status"></span><progress data-field="overall" max="1"></progress>
      <span data-field="message"></span><table><tbody data-field="archs"></tbody></table><p data-field="error"></p>
      <p data-field="model"></p><form><button data-field="cancel">Cancel</button></form></div>`;
    const root = document.getElementById("r")!;
    renderRun(root, {
      id: 1,
      status: "succeeded",
      error: "",
      model_version: 7,
      progress: { message: "model ready", archs: { tiny: { done: true, epoch: 2, max_epochs: 2 } } },
    });
    expect(root.querySelector('[data-field="status"]')!.textContent).toBe("Succeeded");
    expect((root.querySelector('[data-field="overall"]') as HTMLProgressElement).value).toBe(1);
    expect(root.querySelectorAll("tbody tr")).toHaveLength(1);
    expect(root.querySelector('[data-field="model"] a')!.getAttribute("href")).toBe("/models/versions/7/");
    expect(root.querySelector("form")).toBeNull();
  });
});
