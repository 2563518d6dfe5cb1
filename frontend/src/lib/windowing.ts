/**
 * Browser-side CT windowing, mirroring the Python `window(hu, level, width)`:
 *
 *   lo  = level - width / 2
 *   out = clip((hu - lo) / width * 255, 0, 255), rounded to nearest, halves up
 *
 * so HU in [level - width/2, level + width/2] maps linearly onto [0, 255].
 * Rounding is "round half up" (floor(x + 0.5)): 127.5 -> 128. The Python side
 * must round the same way (np.floor(x + 0.5), not np.round, which rounds
 * halves to even) for pixel-identical output.
 */

export interface WindowPreset {
  readonly label: string;
  readonly level: number;
  readonly width: number;
}

/** Standard head-CT windows (level/width in HU). */
export const PRESETS = {
  brain: { label: "Brain", level: 40, width: 80 },
  blood: { label: "Blood", level: 60, width: 40 },
  subdural: { label: "Subdural", level: 80, width: 200 },
  bone: { label: "Bone", level: 600, width: 2800 },
  tissue: { label: "Soft tissue", level: 40, width: 40 },
  stroke: { label: "Stroke", level: 40, width: 40 },
} as const satisfies Record<string, WindowPreset>;

export type PresetName = keyof typeof PRESETS;

export const INT16_MIN = -32768;
export const INT16_MAX = 32767;
const INT16_SPAN = 65536;

function checkWindow(level: number, width: number): void {
  if (!Number.isFinite(level)) throw new RangeError(`window level must be finite, got ${level}`);
  if (!Number.isFinite(width) || width <= 0) throw new RangeError(`window width must be > 0, got ${width}`);
}

/** The direct formula for one HU value (reference implementation). */
export function windowValue(hu: number, level: number, width: number): number {
  const lo = level - width / 2;
  const v = ((hu - lo) / width) * 255;
  if (v <= 0) return 0;
  if (v >= 255) return 255;
  return Math.floor(v + 0.5);
}

/**
 * Grey value for every int16 HU: `lut[hu + 32768]`. Only the span
 * [level - width/2, level + width/2] is computed with the formula; the rest
 * is filled with 0 / 255.
 */
export function buildWindowLut(level: number, width: number): Uint8Array {
  checkWindow(level, width);
  const lut = new Uint8Array(INT16_SPAN);
  const lo = level - width / 2;
  const hi = level + width / 2;
  // Integer HU range that can land strictly inside (0, 255).
  const first = Math.max(INT16_MIN, Math.floor(lo));
  const last = Math.min(INT16_MAX, Math.ceil(hi));
  // Degenerate windows outside the int16 range (never for sane presets).
  if (last < INT16_MIN) return lut.fill(255); // every HU is above the window
  if (first > INT16_MAX) return lut; // every HU is below the window
  // Below `first` stays 0; above `last` is 255.
  lut.fill(255, last + 1 - INT16_MIN);
  for (let hu = first; hu <= last; hu++) lut[hu - INT16_MIN] = windowValue(hu, level, width);
  return lut;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Whether this platform stores multi-byte numbers little-endian. */
export function isLittleEndian(): boolean {
  return littleEndian;
}

// RGBA lookup (grey in R, G, B; alpha 255) packed as one uint32 per HU, cached
// for the last few windows (sliders and preset switching reuse them).
const rgbaCache = new Map<string, Uint32Array>();
const RGBA_CACHE_SIZE = 8;

function rgbaLut(level: number, width: number): Uint32Array {
  const key = `${level}/${width}`;
  const hit = rgbaCache.get(key);
  if (hit) {
    rgbaCache.delete(key);
    rgbaCache.set(key, hit); // LRU: move to the end
    return hit;
  }
  const grey = buildWindowLut(level, width);
  const packed = new Uint32Array(INT16_SPAN);
  for (let i = 0; i < INT16_SPAN; i++) {
    const g = grey[i] as number;
    packed[i] = littleEndian
      ? ((0xff << 24) | (g << 16) | (g << 8) | g) >>> 0
      : ((g << 24) | (g << 16) | (g << 8) | 0xff) >>> 0;
  }
  rgbaCache.set(key, packed);
  if (rgbaCache.size > RGBA_CACHE_SIZE) {
    const oldest = rgbaCache.keys().next().value;
    if (oldest !== undefined) rgbaCache.delete(oldest);
  }
  return packed;
}

/**
 * Window int16 HU pixels into RGBA bytes (grey, alpha 255), e.g. for
 * `new ImageData(out, cols, rows)`. `out` (length `hu.length * 4`) is reused
 * when given — pass `imageData.data` to avoid allocation per frame.
 */
export function windowToRGBA(
  hu: Int16Array,
  level: number,
  width: number,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const n = hu.length;
  const target = out ?? new Uint8ClampedArray(n * 4);
  if (target.length !== n * 4) {
    throw new RangeError(`output has length ${target.length}, expected ${n * 4} (4 bytes per pixel)`);
  }
  const lut = rgbaLut(level, width);
  if (target.byteOffset % 4 === 0) {
    const px = new Uint32Array(target.buffer, target.byteOffset, n);
    for (let i = 0; i < n; i++) px[i] = lut[(hu[i] as number) - INT16_MIN] as number;
  } else {
    const grey = buildWindowLut(level, width);
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      const g = grey[(hu[i] as number) - INT16_MIN] as number;
      target[j] = g;
      target[j + 1] = g;
      target[j + 2] = g;
      target[j + 3] = 255;
    }
  }
  return target;
}

/** Decode raw little-endian int16 explicitly (any platform). */
export function decodeInt16LE(buffer: ArrayBuffer, count: number): Int16Array {
  const view = new DataView(buffer);
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/**
 * Interpret a HU slice response body (raw little-endian int16, row-major,
 * `rows * cols` values). Zero-copy view on little-endian platforms, explicit
 * DataView decode on big-endian ones.
 */
export function parseHuResponse(buffer: ArrayBuffer, shape: readonly [rows: number, cols: number]): Int16Array {
  const [rows, cols] = shape;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new RangeError(`invalid shape [${rows}, ${cols}]`);
  }
  const count = rows * cols;
  if (buffer.byteLength !== count * 2) {
    throw new RangeError(
      `HU buffer has ${buffer.byteLength} bytes, expected ${count * 2} for shape [${rows}, ${cols}] int16`,
    );
  }
  return littleEndian ? new Int16Array(buffer, 0, count) : decodeInt16LE(buffer, count);
}
