// @vitest-environment node
import { describe, expect, it } from "vitest";
import {
  INT16_MAX,
  INT16_MIN,
  PRESETS,
  buildWindowLut,
  decodeInt16LE,
  isLittleEndian,
  parseHuResponse,
  windowToRGBA,
  windowValue,
} from "../src/lib/windowing";

describe("windowValue (direct formula)", () => {
  it("maps level 40 / width 40 by hand", () => {
    // lo = 20, hi = 60
    expect(windowValue(20, 40, 40)).toBe(0);
    expect(windowValue(40, 40, 40)).toBe(128); // (40-20)/40*255 = 127.5 -> 128 (half up)
    expect(windowValue(60, 40, 40)).toBe(255);
    expect(windowValue(30, 40, 40)).toBe(64); // 63.75
    expect(windowValue(21, 40, 40)).toBe(6); // 6.375
    expect(windowValue(59, 40, 40)).toBe(249); // 248.625
  });

  it("clips outside the window", () => {
    expect(windowValue(19, 40, 40)).toBe(0);
    expect(windowValue(-1024, 40, 40)).toBe(0);
    expect(windowValue(61, 40, 40)).toBe(255);
    expect(windowValue(3071, 40, 40)).toBe(255);
  });

  it("brain and bone windows by hand", () => {
    expect(windowValue(0, 40, 80)).toBe(0);
    expect(windowValue(1, 40, 80)).toBe(3); // 3.1875
    expect(windowValue(80, 40, 80)).toBe(255);
    expect(windowValue(-800, 600, 2800)).toBe(0);
    expect(windowValue(600, 600, 2800)).toBe(128); // 127.5
    expect(windowValue(2000, 600, 2800)).toBe(255);
  });
});

describe("PRESETS", () => {
  it("has the standard head-CT windows", () => {
    const lw = Object.fromEntries(Object.entries(PRESETS).map(([k, p]) => [k, [p.level, p.width]]));
    expect(lw).toEqual({
      brain: [40, 80],
      blood: [60, 40],
      subdural: [80, 200],
      bone: [600, 2800],
      tissue: [40, 40],
      stroke: [40, 40],
    });
    for (const p of Object.values(PRESETS)) expect(p.label).toBeTruthy();
  });
});

describe("buildWindowLut", () => {
  const windows: [number, number][] = [
    ...Object.values(PRESETS).map((p): [number, number] => [p.level, p.width]),
    [35.5, 1],
    [0, 0.5],
    [-1000, 3],
    [INT16_MAX, 10],
    [INT16_MIN, 10],
    [-40000, 10], // window entirely below int16: everything 255
    [40000, 10], // window entirely above int16: everything 0
  ];

  it.each(windows)("equals the direct formula over the whole int16 range (L=%s W=%s)", (level, width) => {
    const lut = buildWindowLut(level, width);
    expect(lut.length).toBe(65536);
    let mismatches = 0;
    for (let hu = INT16_MIN; hu <= INT16_MAX; hu++) {
      if (lut[hu - INT16_MIN] !== windowValue(hu, level, width)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it("rejects a non-positive width", () => {
    expect(() => buildWindowLut(40, 0)).toThrow(RangeError);
    expect(() => buildWindowLut(40, -5)).toThrow(RangeError);
    expect(() => buildWindowLut(Number.NaN, 40)).toThrow(RangeError);
  });
});

describe("windowToRGBA", () => {
  it("writes grey RGBA with alpha 255", () => {
    const rgba = windowToRGBA(Int16Array.from([20, 40, 60, -1024]), 40, 40);
    expect(Array.from(rgba)).toEqual([0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 0, 0, 0, 255]);
  });

  it("matches the formula for every preset over a sweep", () => {
    const hu = new Int16Array(4000);
    for (let i = 0; i < hu.length; i++) hu[i] = -1500 + i;
    for (const { level, width } of Object.values(PRESETS)) {
      const rgba = windowToRGBA(hu, level, width);
      const expected = new Uint8ClampedArray(hu.length * 4);
      for (let i = 0; i < hu.length; i++) {
        const g = windowValue(hu[i] as number, level, width);
        expected.set([g, g, g, 255], i * 4);
      }
      expect(rgba.length).toBe(expected.length);
      expect(rgba.every((v, i) => v === expected[i])).toBe(true);
    }
  });

  it("reuses the output array, including an unaligned one", () => {
    const out = new Uint8ClampedArray(8);
    expect(windowToRGBA(Int16Array.from([40, 60]), 40, 40, out)).toBe(out);
    expect(Array.from(out)).toEqual([128, 128, 128, 255, 255, 255, 255, 255]);

    const unaligned = new Uint8ClampedArray(new ArrayBuffer(9), 1, 8);
    windowToRGBA(Int16Array.from([20, 30]), 40, 40, unaligned);
    expect(Array.from(unaligned)).toEqual([0, 0, 0, 255, 64, 64, 64, 255]);
  });

  it("rejects an output of the wrong size", () => {
    expect(() => windowToRGBA(Int16Array.from([1, 2]), 40, 40, new Uint8ClampedArray(4))).toThrow(RangeError);
  });
});

describe("parseHuResponse", () => {
  // Hand-made little-endian int16 bytes for [0, 1, -1, 40, -1024, 32767, -32768, 256]
  const bytes = [0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0x28, 0x00, 0x00, 0xfc, 0xff, 0x7f, 0x00, 0x80, 0x00, 0x01];
  const expected = [0, 1, -1, 40, -1024, 32767, -32768, 256];

  it("decodes raw little-endian int16", () => {
    const hu = parseHuResponse(new Uint8Array(bytes).buffer, [2, 4]);
    expect(hu).toBeInstanceOf(Int16Array);
    expect(Array.from(hu)).toEqual(expected);
  });

  it("explicit DataView decoding gives the same values (big-endian path)", () => {
    expect(Array.from(decodeInt16LE(new Uint8Array(bytes).buffer, 8))).toEqual(expected);
  });

  it("is a zero-copy view on little-endian platforms", () => {
    const buffer = new Uint8Array(bytes).buffer;
    const hu = parseHuResponse(buffer, [4, 2]);
    if (isLittleEndian()) expect(hu.buffer).toBe(buffer);
  });

  it("rejects a size that does not match the shape", () => {
    expect(() => parseHuResponse(new ArrayBuffer(14), [2, 4])).toThrow(/expected 16/);
    expect(() => parseHuResponse(new ArrayBuffer(16), [2, 5])).toThrow(RangeError);
    expect(() => parseHuResponse(new ArrayBuffer(0), [-1, 0])).toThrow(RangeError);
  });
});
