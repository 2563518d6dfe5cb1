/**
 * Canvas drawing: the windowed HU image under the view transform and the
 * bleeding-point markers (crosshair circles of constant screen size).
 * Everything degrades to a no-op without a 2D context (happy-dom, old
 * browsers) so the viewer logic keeps running.
 */
import { windowToRGBA } from "../lib/windowing";
import type { HuSlice } from "./slices";
import { imageToScreen, type ViewTransform } from "./transform";
import { MARKER_RADIUS } from "./points";

export const SUBTYPE_COLORS: Readonly<Record<string, string>> = {
  IPH: "#ef4444", // red
  IVH: "#3b82f6", // blue
  SDH: "#f59e0b", // amber
  EDH: "#22c55e", // green
  SAH: "#d946ef", // magenta
};
const FALLBACK_COLORS = ["#14b8a6", "#f97316", "#a3e635", "#e879f9", "#60a5fa"];
/** Colour of a point without subtype. */
export const NO_SUBTYPE_COLOR = "#22d3ee"; // cyan

export function subtypeColor(code: string | null | undefined, subtypes: readonly string[] = []): string {
  if (!code) return NO_SUBTYPE_COLOR;
  const known = SUBTYPE_COLORS[code];
  if (known) return known;
  const i = Math.max(0, subtypes.indexOf(code));
  return FALLBACK_COLORS[i % FALLBACK_COLORS.length] as string;
}

/** The 2D-context calls the renderer uses (a recording fake in tests). */
export type Ctx2D = Pick<
  CanvasRenderingContext2D,
  | "setTransform"
  | "fillRect"
  | "drawImage"
  | "beginPath"
  | "arc"
  | "moveTo"
  | "lineTo"
  | "stroke"
  | "fill"
  | "fillText"
  | "setLineDash"
  | "save"
  | "restore"
  | "closePath"
> & {
  fillStyle: CanvasRenderingContext2D["fillStyle"];
  strokeStyle: CanvasRenderingContext2D["strokeStyle"];
  lineWidth: number;
  font: string;
  textAlign: CanvasTextAlign;
  textBaseline: CanvasTextBaseline;
  imageSmoothingEnabled: boolean;
};

/**
 * One reusable bitmap (columns x rows) holding the windowed current slice.
 * Re-windowing only happens when the slice or the window changes.
 */
export class WindowedImage {
  private canvas: HTMLCanvasElement | null = null;
  private ctx: CanvasRenderingContext2D | null = null;
  private imageData: ImageData | null = null;
  private key = "";
  private unsupported = false;

  constructor(private readonly doc: Document) {}

  /** The bitmap for `slice` windowed at level/width, or null without canvas support. */
  update(slice: HuSlice, sliceId: number, level: number, width: number): CanvasImageSource | null {
    if (this.unsupported) return null;
    const key = `${sliceId}|${level}|${width}`;
    if (key === this.key && this.canvas) return this.canvas;
    if (!this.canvas || this.canvas.width !== slice.columns || this.canvas.height !== slice.rows) {
      const canvas = this.doc.createElement("canvas");
      canvas.width = slice.columns;
      canvas.height = slice.rows;
      let ctx: CanvasRenderingContext2D | null = null;
      try {
        ctx = canvas.getContext("2d");
      } catch {
        ctx = null;
      }
      if (!ctx || typeof ctx.createImageData !== "function") {
        this.unsupported = true;
        return null;
      }
      this.canvas = canvas;
      this.ctx = ctx;
      this.imageData = ctx.createImageData(slice.columns, slice.rows);
    }
    const ctx = this.ctx as CanvasRenderingContext2D;
    const data = this.imageData as ImageData;
    windowToRGBA(slice.hu, level, width, data.data);
    ctx.putImageData(data, 0, 0);
    this.key = key;
    return this.canvas;
  }

  invalidate(): void {
    this.key = "";
  }
}

export interface MarkerSpec {
  x: number; // image coordinates
  y: number;
  color: string;
  label?: string;
  selected?: boolean;
  /** Read-only reference marker (adjudication): small dashed diamond. */
  reference?: boolean;
}

export interface FrameSpec {
  cssWidth: number;
  cssHeight: number;
  dpr: number;
  transform: ViewTransform;
  image: CanvasImageSource | null;
  imageWidth: number;
  imageHeight: number;
  markers: readonly MarkerSpec[];
  /** Centred text when there is no image yet ("Loading…"). */
  message?: string;
}

/** Crosshair geometry around (sx, sy): circle radius r, four ticks leaving the centre free. */
export function crosshairSegments(sx: number, sy: number, r = MARKER_RADIUS): [number, number, number, number][] {
  const inner = r * 0.45;
  const outer = r + 5;
  return [
    [sx - outer, sy, sx - inner, sy],
    [sx + inner, sy, sx + outer, sy],
    [sx, sy - outer, sx, sy - inner],
    [sx, sy + inner, sx, sy + outer],
  ];
}

function strokeCrosshair(ctx: Ctx2D, sx: number, sy: number, r: number): void {
  ctx.beginPath();
  ctx.arc(sx, sy, r, 0, Math.PI * 2);
  for (const [x1, y1, x2, y2] of crosshairSegments(sx, sy, r)) {
    ctx.moveTo(x1, y1);
    ctx.lineTo(x2, y2);
  }
  ctx.stroke();
}

export function drawMarker(ctx: Ctx2D, t: ViewTransform, m: MarkerSpec): void {
  const [sx, sy] = imageToScreen(t, m.x, m.y);
  if (m.reference) {
    const r = 6;
    ctx.save();
    ctx.setLineDash([3, 2]);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = m.color;
    ctx.beginPath();
    ctx.moveTo(sx, sy - r);
    ctx.lineTo(sx + r, sy);
    ctx.lineTo(sx, sy + r);
    ctx.lineTo(sx - r, sy);
    ctx.closePath();
    ctx.stroke();
    ctx.restore();
  } else {
    const r = MARKER_RADIUS;
    // Dark outline first so the marker stays visible on bone and bright blood.
    ctx.strokeStyle = "rgba(0,0,0,0.85)";
    ctx.lineWidth = m.selected ? 5 : 3.5;
    strokeCrosshair(ctx, sx, sy, r);
    ctx.strokeStyle = m.color;
    ctx.lineWidth = m.selected ? 2.5 : 1.5;
    strokeCrosshair(ctx, sx, sy, r);
    if (m.selected) {
      ctx.save();
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "#ffffff";
      ctx.beginPath();
      ctx.arc(sx, sy, r + 4, 0, Math.PI * 2);
      ctx.stroke();
      ctx.restore();
    }
  }
  if (m.label) {
    ctx.font = "600 11px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.fillStyle = "rgba(0,0,0,0.8)";
    ctx.fillText(m.label, sx + MARKER_RADIUS + 2 + 1, sy - MARKER_RADIUS + 1);
    ctx.fillStyle = m.color;
    ctx.fillText(m.label, sx + MARKER_RADIUS + 2, sy - MARKER_RADIUS);
  }
}

export function drawFrame(ctx: Ctx2D, spec: FrameSpec): void {
  const { transform: t } = spec;
  ctx.setTransform(spec.dpr, 0, 0, spec.dpr, 0, 0);
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, spec.cssWidth, spec.cssHeight);
  if (spec.image) {
    ctx.imageSmoothingEnabled = t.scale < 3; // show true pixels when zoomed far in
    ctx.drawImage(spec.image, t.tx, t.ty, spec.imageWidth * t.scale, spec.imageHeight * t.scale * t.aspect);
  }
  for (const m of spec.markers) drawMarker(ctx, t, m);
  if (spec.message) {
    ctx.font = "14px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillStyle = "#94a3b8";
    ctx.fillText(spec.message, spec.cssWidth / 2, spec.cssHeight / 2);
  }
}
