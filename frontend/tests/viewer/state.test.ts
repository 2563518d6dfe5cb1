// @vitest-environment node
import { describe, expect, it } from "vitest";
import {
  anyHaemorrhage,
  applyPatch,
  copyLabels,
  copyPrevious,
  inRange,
  labelsFromApi,
  normalizeCodes,
  patchToApi,
  rangeSlices,
  setNone,
  summarize,
  toggleCode,
  type Codes,
} from "../../src/viewer/state";

const SUB = ["IPH", "IVH", "SDH", "EDH", "SAH"];

function labels(obj: Record<number, string[]>): Map<number, Codes> {
  return new Map(Object.entries(obj).map(([k, v]) => [Number(k), v]));
}

describe("labels model", () => {
  it("reads the API map, dropping bad keys and ordering codes", () => {
    const m = labelsFromApi({ "0": [], "3": ["SAH", "IPH", "SAH"], "x": ["IPH"], "99": ["IPH"] }, 30, SUB);
    expect([...m]).toEqual([
      [0, []],
      [3, ["IPH", "SAH"]],
    ]);
    expect(normalizeCodes(["XYZ", "SAH", "IVH"], SUB)).toEqual(["IVH", "SAH", "XYZ"]);
  });

  it("toggles a code on the current slice (unlabeled -> [code] -> [])", () => {
    const l0 = labels({});
    const p1 = toggleCode(l0, [2], "IPH", SUB);
    expect(patchToApi(p1)).toEqual({ "2": ["IPH"] });
    const l1 = applyPatch(l0, p1);
    expect(l0.has(2)).toBe(false); // input untouched
    const l2 = applyPatch(l1, toggleCode(l1, [2], "SAH", SUB));
    expect(l2.get(2)).toEqual(["IPH", "SAH"]);
    const l3 = applyPatch(l2, toggleCode(l2, [2], "IPH", SUB));
    expect(l3.get(2)).toEqual(["SAH"]);
    const l4 = applyPatch(l3, toggleCode(l3, [2], "SAH", SUB));
    expect(l4.get(2)).toEqual([]); // last subtype off: labeled, no haemorrhage
  });

  it("adds a code to a slice marked none", () => {
    const l = labels({ 1: [] });
    expect(patchToApi(toggleCode(l, [1], "EDH", SUB))).toEqual({ "1": ["EDH"] });
  });

  it("0 clears subtypes and only reports slices that change", () => {
    const l = labels({ 1: ["IPH"], 2: [] });
    expect(patchToApi(setNone(l, [1, 2, 3]))).toEqual({ "1": [], "3": [] });
    expect(setNone(l, [2]).size).toBe(0);
  });

  it("copies the previous slice", () => {
    const l = labels({ 4: ["IPH", "IVH"], 5: ["SDH"] });
    expect(patchToApi(copyPrevious(l, 5)!)).toEqual({ "5": ["IPH", "IVH"] });
    expect(copyPrevious(l, 7)).toBeNull(); // slice 6 unlabeled: nothing to copy
    expect(copyPrevious(l, 0)).toBeNull();
    expect(copyPrevious(labels({ 4: ["SAH"], 5: ["SAH"] }), 5)!.size).toBe(0); // already equal
    const copied = applyPatch(l, copyPrevious(l, 5)!);
    expect(copied.get(5)).not.toBe(copied.get(4)); // no shared arrays
  });

  it("applies a range: toggle adds to all unless all have it, then removes from all", () => {
    const l = labels({ 3: ["IPH"], 4: [], 6: ["SAH"] });
    const range = rangeSlices({ anchor: 6, focus: 3 });
    expect(range).toEqual([3, 4, 5, 6]);
    const add = toggleCode(l, range, "IPH", SUB);
    expect(patchToApi(add)).toEqual({ "4": ["IPH"], "5": ["IPH"], "6": ["IPH", "SAH"] });
    const all = applyPatch(l, add);
    const remove = toggleCode(all, range, "IPH", SUB);
    expect(patchToApi(remove)).toEqual({ "3": [], "4": [], "5": [], "6": ["SAH"] });
    expect(patchToApi(setNone(l, range))).toEqual({ "3": [], "5": [], "6": [] });
    expect(inRange({ anchor: 6, focus: 3 }, 5)).toBe(true);
    expect(inRange({ anchor: 6, focus: 3 }, 7)).toBe(false);
    expect(inRange(null, 3)).toBe(false);
  });

  it("copies the anchor's labels over a range", () => {
    const l = labels({ 10: ["IPH", "SAH"], 12: ["IVH"] });
    expect(patchToApi(copyLabels(l, 10, rangeSlices({ anchor: 10, focus: 13 }))!)).toEqual({
      "11": ["IPH", "SAH"],
      "12": ["IPH", "SAH"],
      "13": ["IPH", "SAH"],
    });
    expect(copyLabels(l, 11, [11, 12])).toBeNull();
  });

  it("derives any-haemorrhage and progress", () => {
    expect(anyHaemorrhage(undefined)).toBeUndefined();
    expect(anyHaemorrhage([])).toBe(false);
    expect(anyHaemorrhage(["SDH"])).toBe(true);
    const s = summarize(labels({ 0: [], 1: ["SAH"], 2: ["IPH", "SAH"] }), 5, SUB);
    expect(s).toEqual({ labeled: 3, positive: 2, total: 5, unlabeled: [3, 4], any: true, subtypes: ["IPH", "SAH"] });
    expect(summarize(labels({ 0: [] }), 1, SUB).any).toBe(false);
  });
});
