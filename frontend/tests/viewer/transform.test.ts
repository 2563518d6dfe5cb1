// @vitest-environment node
import { describe, expect, it } from "vitest";
import {
  MAX_SCALE,
  aspectFromSpacing,
  clampToImage,
  fitTransform,
  imageToScreen,
  insideImage,
  panBy,
  recenter,
  screenDeltaToImage,
  screenToImage,
  zoomAbout,
} from "../../src/viewer/transform";

describe("view transform", () => {
  it("fits a 512x512 image into an 800x600 view", () => {
    const t = fitTransform(800, 600, 512, 512);
    expect(t.scale).toBeCloseTo(600 / 512);
    expect(t.ty).toBeCloseTo(0);
    expect(t.tx).toBeCloseTo((800 - 600) / 2); // 100
    expect(imageToScreen(t, 0, 0)).toEqual([100, 0]);
    expect(imageToScreen(t, 512, 512).map((v) => Math.round(v))).toEqual([700, 600]);
    const m = fitTransform(800, 600, 512, 512, 1, 10);
    expect(m.scale).toBeCloseTo(580 / 512);
    expect(m.ty).toBeCloseTo(10);
  });

  it("maps screen <-> image with hand numbers", () => {
    const t = { scale: 2, aspect: 1, tx: 100, ty: 50 };
    expect(imageToScreen(t, 250.5, 301)).toEqual([601, 652]);
    expect(screenToImage(t, 601, 652)).toEqual([250.5, 301]);
    expect(screenToImage(t, 100, 50)).toEqual([0, 0]);
  });

  it("zooms about the cursor: the image point under it stays put", () => {
    const t0 = { scale: 1, aspect: 1, tx: 0, ty: 0 };
    const t1 = zoomAbout(t0, 2, 100, 100);
    expect(t1).toEqual({ scale: 2, aspect: 1, tx: -100, ty: -100 });
    expect(screenToImage(t1, 100, 100)).toEqual([100, 100]);
    expect(screenToImage(t1, 300, 100)).toEqual([200, 100]);
    const t2 = zoomAbout(t1, 0.5, 100, 100);
    expect(t2).toEqual(t0);
  });

  it("round trips under zoom + pan (+ anisotropic pixels)", () => {
    let t = fitTransform(900, 700, 512, 400, aspectFromSpacing([0.5, 0.4]), 8);
    expect(t.aspect).toBeCloseTo(1.25);
    t = zoomAbout(t, 3.7, 123, 456);
    t = panBy(t, -57, 31);
    t = zoomAbout(t, 0.6, 400, 20);
    for (const [x, y] of [
      [0, 0],
      [511.5, 399.5],
      [250.25, 301.75],
    ] as const) {
      const [sx, sy] = imageToScreen(t, x, y);
      const [bx, by] = screenToImage(t, sx, sy);
      expect(bx).toBeCloseTo(x, 9);
      expect(by).toBeCloseTo(y, 9);
    }
    const [dx, dy] = screenDeltaToImage(t, 10, 10);
    expect(dy / dx).toBeCloseTo(1 / 1.25);
  });

  it("pans, recenters on resize, clamps zoom and image coordinates", () => {
    const t = { scale: 2, aspect: 1, tx: 10, ty: 20 };
    expect(panBy(t, 5, -5)).toEqual({ scale: 2, aspect: 1, tx: 15, ty: 15 });
    expect(recenter(t, 800, 600, 1000, 500)).toEqual({ scale: 2, aspect: 1, tx: 110, ty: -30 });
    expect(zoomAbout(t, 1e6, 0, 0).scale).toBe(MAX_SCALE);
    expect(zoomAbout(t, 0, 0, 0)).toBe(t);
    expect(insideImage(512, 0, 512, 512)).toBe(true);
    expect(insideImage(-0.1, 3, 512, 512)).toBe(false);
    expect(clampToImage(-3, 600, 512, 512)).toEqual([0, 512]);
    expect(aspectFromSpacing(null)).toBe(1);
    expect(aspectFromSpacing([0.45, 0.45])).toBe(1);
  });
});
