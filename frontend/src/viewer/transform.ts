/**
 * View transform between image pixels and screen (CSS) pixels of the canvas:
 *
 *   sx = x * scale          + tx
 *   sy = y * scale * aspect + ty
 *
 * Image coordinates are continuous: pixel (column c, row r) covers
 * [c, c+1) x [r, r+1), so its centre is (c + 0.5, r + 0.5) and the image spans
 * x in [0, columns], y in [0, rows]. `aspect` = row spacing / column spacing
 * (1 for square pixels), so anisotropic pixels are shown with true proportions.
 */

export interface ViewTransform {
  readonly scale: number;
  readonly aspect: number;
  readonly tx: number;
  readonly ty: number;
}

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 40;

export function identity(): ViewTransform {
  return { scale: 1, aspect: 1, tx: 0, ty: 0 };
}

/** Row spacing / column spacing from DICOM PixelSpacing ([row, column] mm); 1 when unknown. */
export function aspectFromSpacing(spacing: readonly number[] | null | undefined): number {
  const row = spacing?.[0];
  const col = spacing?.[1];
  if (!row || !col || !Number.isFinite(row) || !Number.isFinite(col) || row <= 0 || col <= 0) return 1;
  const a = row / col;
  return a > 0.2 && a < 5 ? a : 1;
}

/** Largest scale that shows the whole image centred in the view (with `margin` CSS px around it). */
export function fitTransform(
  viewW: number,
  viewH: number,
  imgW: number,
  imgH: number,
  aspect = 1,
  margin = 0,
): ViewTransform {
  const w = Math.max(1, viewW - 2 * margin);
  const h = Math.max(1, viewH - 2 * margin);
  const iw = Math.max(1, imgW);
  const ih = Math.max(1, imgH * aspect);
  const scale = clamp(Math.min(w / iw, h / ih), MIN_SCALE, MAX_SCALE);
  return {
    scale,
    aspect,
    tx: (viewW - imgW * scale) / 2,
    ty: (viewH - imgH * scale * aspect) / 2,
  };
}

export function imageToScreen(t: ViewTransform, x: number, y: number): [number, number] {
  return [x * t.scale + t.tx, y * t.scale * t.aspect + t.ty];
}

export function screenToImage(t: ViewTransform, sx: number, sy: number): [number, number] {
  return [(sx - t.tx) / t.scale, (sy - t.ty) / (t.scale * t.aspect)];
}

/** A screen-space displacement expressed in image pixels. */
export function screenDeltaToImage(t: ViewTransform, dx: number, dy: number): [number, number] {
  return [dx / t.scale, dy / (t.scale * t.aspect)];
}

/** Zoom by `factor` keeping the image point under screen (sx, sy) where it is. */
export function zoomAbout(t: ViewTransform, factor: number, sx: number, sy: number): ViewTransform {
  if (!Number.isFinite(factor) || factor <= 0) return t;
  const scale = clamp(t.scale * factor, MIN_SCALE, MAX_SCALE);
  const k = scale / t.scale;
  return { scale, aspect: t.aspect, tx: sx - (sx - t.tx) * k, ty: sy - (sy - t.ty) * k };
}

export function panBy(t: ViewTransform, dx: number, dy: number): ViewTransform {
  return { ...t, tx: t.tx + dx, ty: t.ty + dy };
}

/** Keep the same image point at the view centre after the view was resized. */
export function recenter(t: ViewTransform, oldW: number, oldH: number, newW: number, newH: number): ViewTransform {
  return panBy(t, (newW - oldW) / 2, (newH - oldH) / 2);
}

export function insideImage(x: number, y: number, columns: number, rows: number): boolean {
  return x >= 0 && y >= 0 && x <= columns && y <= rows;
}

export function clampToImage(x: number, y: number, columns: number, rows: number): [number, number] {
  return [clamp(x, 0, columns), clamp(y, 0, rows)];
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
