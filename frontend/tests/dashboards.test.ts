import { describe, expect, it } from "vitest";

import { cellText, ci, columns, matrixRows, num, panelUrl, pct, tableElement, thin } from "../src/dashboards/format";

describe("dashboard formatting", () => {
  it("formats numbers, intervals and percents", () => {
    expect(num(0.98765)).toBe("0.988");
    expect(num(null)).toBe("—");
    expect(ci(0.9, [0.85, 0.95])).toBe("0.900 (0.850–0.950)");
    expect(ci(0.9, null)).toBe("0.900 (—–—)");
    expect(pct(0.924)).toBe("92.4 %");
    expect(cellText(3)).toBe("3");
    expect(cellText(0.5)).toBe("0.500");
    expect(cellText(null)).toBe("—");
  });
  it("builds panel URLs with only the filters a panel reads", () => {
    const filters = { model: "2", cohort: "test:2", label: "ANY", project: "", level: "case" };
    expect(panelUrl("/api/v1/analytics/roc/", filters, ["model", "cohort", "label"])).toBe(
      "/api/v1/analytics/roc/?model=2&cohort=test%3A2&label=ANY",
    );
    expect(panelUrl("/x/", filters, ["project"], "csv")).toBe("/x/?format=csv");
  });
  it("collects columns in first-seen order and renders tables", () => {
    const rows = [{ a: 1, b: 2 }, { b: 3, c: "x" }];
    expect(columns(rows)).toEqual(["a", "b", "c"]);
    const table = tableElement(rows, 1, (row) => row["a"] === 1);
    expect(table.querySelectorAll("tbody tr")).toHaveLength(1);
    expect(table.querySelector("tbody tr")!.classList.contains("is-positive")).toBe(true);
  });
  it("turns a kappa matrix into rows and thins long curves", () => {
    expect(matrixRows(["a", "b"], [[1, 0.5], [0.5, 1]])).toEqual([
      { reader: "a", a: 1, b: 0.5 },
      { reader: "b", a: 0.5, b: 1 },
    ]);
    const points = Array.from({ length: 1000 }, (_, i) => i);
    const thinned = thin(points, 10);
    expect(thinned).toHaveLength(10);
    expect(thinned[0]).toBe(0);
    expect(thinned[9]).toBe(999);
  });
});
