// @vitest-environment node
import { describe, expect, it } from "vitest";
import { PointerGesture, hitTest, windowDrag } from "../../src/viewer/points";
import { crosshairSegments, drawFrame, subtypeColor, type Ctx2D } from "../../src/viewer/render";
import { screenToImage } from "../../src/viewer/transform";

const T = { scale: 2, aspect: 1, tx: 100, ty: 50 };
const PTS = [
  { key: "a", slice_index: 3, x: 250.5, y: 301 }, // screen (601, 652)
  { key: "b", slice_index: 3, x: 255, y: 301 }, // screen (610, 652)
  { key: "c", slice_index: 4, x: 250.5, y: 301 },
];

describe("hit testing", () => {
  it("finds the nearest marker of the slice within the radius (screen px)", () => {
    expect(hitTest(PTS, 3, T, 603, 652)?.key).toBe("a");
    expect(hitTest(PTS, 3, T, 608, 653)?.key).toBe("b");
    expect(hitTest(PTS, 3, T, 601, 680)).toBeNull();
    expect(hitTest(PTS, 4, T, 610, 652)?.key).toBe("c");
    expect(hitTest(PTS, 5, T, 601, 652)).toBeNull();
  });
});

describe("pointer gestures", () => {
  it("left click on empty space adds; a jittery drag beyond the threshold does not", () => {
    const g = new PointerGesture(4);
    g.down({ button: 0, sx: 10, sy: 10 });
    expect(g.move(12, 11)).toBeNull();
    expect(g.up(12, 11)).toEqual({ type: "add", sx: 12, sy: 11 });
    g.down({ button: 0, sx: 10, sy: 10 });
    expect(g.up(30, 10)).toBeNull();
  });

  it("drags a marker (total displacement) and commits on release; a click selects", () => {
    const g = new PointerGesture(4);
    g.down({ button: 0, sx: 601, sy: 652, hitKey: "a" });
    expect(g.move(603, 652)).toBeNull(); // below threshold
    expect(g.move(611, 648)).toEqual({ type: "drag", key: "a", dx: 10, dy: -4 });
    expect(g.dragging).toBe(true);
    expect(g.up(621, 652)).toEqual({ type: "dragEnd", key: "a", dx: 20, dy: 0 });
    expect(g.active).toBe(false);
    g.down({ button: 0, sx: 601, sy: 652, hitKey: "a" });
    expect(g.up(602, 652)).toEqual({ type: "select", key: "a" });
  });

  it("right-click on a marker deletes; right-drag windows; middle and space+left pan", () => {
    const g = new PointerGesture(4);
    g.down({ button: 2, sx: 5, sy: 5, hitKey: "a" });
    expect(g.up(5, 5)).toEqual({ type: "delete", key: "a" });
    g.down({ button: 2, sx: 5, sy: 5, hitKey: "a" });
    expect(g.move(15, 5)).toEqual({ type: "window", dx: 10, dy: 0 });
    expect(g.move(15, 25)).toEqual({ type: "window", dx: 0, dy: 20 });
    expect(g.up(15, 25)).toBeNull(); // dragged: no delete
    g.down({ button: 1, sx: 0, sy: 0 });
    expect(g.move(10, 0)).toEqual({ type: "pan", dx: 10, dy: 0 });
    expect(g.up(12, 1)).toEqual({ type: "pan", dx: 2, dy: 1 });
    g.down({ button: 0, sx: 0, sy: 0, space: true, hitKey: "a" });
    expect(g.move(0, 10)).toEqual({ type: "pan", dx: 0, dy: 10 });
    expect(g.up(0, 10, 2)).toBeNull(); // another button's release is ignored
    g.cancel();
    expect(g.down({ button: 3, sx: 0, sy: 0 })).toBeNull();
  });

  it("window drag: right = wider, down = higher level, faster for wide windows", () => {
    expect(windowDrag(40, 80, 10, 0)).toEqual({ level: 40, width: 90 });
    expect(windowDrag(40, 80, 0, -5)).toEqual({ level: 35, width: 80 });
    expect(windowDrag(600, 2800, 1, 1)).toEqual({ level: 628, width: 2828 });
    expect(windowDrag(40, 5, -100, 0).width).toBe(1);
  });

  it("click position maps back to the image pixel under the cursor", () => {
    const [x, y] = screenToImage(T, 601, 652);
    expect([x, y]).toEqual([250.5, 301]);
  });
});

describe("render", () => {
  function recorder() {
    const calls: [string, ...unknown[]][] = [];
    const ctx = new Proxy(
      { fillStyle: "", strokeStyle: "", lineWidth: 1, font: "", textAlign: "left", textBaseline: "top", imageSmoothingEnabled: true },
      {
        get(target, prop) {
          if (prop in target) return (target as Record<string | symbol, unknown>)[prop];
          return (...args: unknown[]) => calls.push([String(prop), ...args]);
        },
      },
    ) as unknown as Ctx2D;
    return { ctx, calls };
  }

  it("draws the image under the transform and markers at their screen position", () => {
    const { ctx, calls } = recorder();
    const image = {} as CanvasImageSource;
    drawFrame(ctx, {
      cssWidth: 800,
      cssHeight: 600,
      dpr: 2,
      transform: T,
      image,
      imageWidth: 512,
      imageHeight: 512,
      markers: [{ x: 250.5, y: 301, color: subtypeColor("IPH"), label: "IPH" }],
    });
    expect(calls[0]).toEqual(["setTransform", 2, 0, 0, 2, 0, 0]);
    expect(calls).toContainEqual(["drawImage", image, 100, 50, 1024, 1024]);
    const arcs = calls.filter((c) => c[0] === "arc");
    expect(arcs[0]?.slice(1, 3)).toEqual([601, 652]);
    expect(calls.some((c) => c[0] === "fillText" && c[1] === "IPH")).toBe(true);
    expect(crosshairSegments(0, 0, 10)[1]).toEqual([4.5, 0, 15, 0]); // centre left free
    expect(subtypeColor(null)).toBe("#22d3ee");
    expect(subtypeColor("XYZ", ["XYZ"])).toMatch(/^#/);
  });
});
