// @vitest-environment node
import { describe, expect, it } from "vitest";
import { startSlice } from "../../src/viewer/session";
import type { ClientPoint, ReadData } from "../../src/viewer/types";
import { sliceMarkers } from "../../src/viewer/view";

describe("startSlice", () => {
  it("resumes at last_slice_index when it is a slice, else at the first", () => {
    expect(startSlice({ last_slice_index: 2 }, 3)).toBe(2);
    expect(startSlice({ last_slice_index: 0 }, 3)).toBe(0);
    for (const last of [3, -1, null, undefined]) expect(startSlice({ last_slice_index: last } as ReadData, 3)).toBe(0);
  });
});

describe("sliceMarkers", () => {
  const subtypes = ["IPH", "SAH"];
  const point = (key: string, slice_index: number, subtype: string | null): ClientPoint => ({ key, id: key, slice_index, x: 1, y: 2, subtype });
  const read = {
    adjudication: {
      reads: [
        { label: "Reader A", labels: {}, points: [{ id: "a1", slice_index: 1, x: 5, y: 6, subtype: "SAH" }] },
        { label: "Reader B", labels: {}, points: [{ id: "b1", slice_index: 1, x: 7, y: 8, subtype: null }, { id: "b2", slice_index: 0, x: 0, y: 0, subtype: null }] },
      ],
    },
  } as unknown as ReadData;
  const state = { read, subtypes, current: 1, selectedKey: "p2", showRefPoints: true, points: [point("p1", 0, "IPH"), point("p2", 1, null)] };

  it("draws the reference reads' points of this slice under the reader's own", () => {
    expect(sliceMarkers(state)).toEqual([
      { x: 5, y: 6, color: "#d946ef", reference: true, label: "A SAH" },
      { x: 7, y: 8, color: "#22d3ee", reference: true, label: "B" },
      { x: 1, y: 2, color: "#22d3ee", label: "", selected: true },
    ]);
  });

  it("hides the reference points on request", () => {
    expect(sliceMarkers({ ...state, showRefPoints: false, current: 0 })).toEqual([{ x: 1, y: 2, color: "#ef4444", label: "IPH", selected: false }]);
  });
});
