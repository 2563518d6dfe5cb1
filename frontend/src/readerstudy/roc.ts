/**
 * The results page's ROC panel: per participant the ROC curve of their confidence-graded ICH scores and
 * their operating point (1 - specificity, sensitivity), as the paper draws readers on the model's curve.
 */
interface Curve {
  auc: number | null;
  fpr: (number | null)[];
  tpr: (number | null)[];
}

export interface ReadsResult {
  model?: Curve | null;
  participants: {
    participant: string;
    ich: { point: { fpr: number | null; tpr: number | null } };
    roc: Curve | null;
  }[];
}

export interface XY {
  x: number;
  y: number;
}

export interface RocDataset {
  label: string;
  data: XY[];
  showLine: boolean;
  pointRadius: number;
  borderColor: string;
  backgroundColor: string;
}

const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d"];

function curve(label: string, roc: Curve, colour: string): RocDataset {
  const data = roc.fpr.flatMap((x, k) => {
    const y = roc.tpr[k];
    return x === null || y === null || y === undefined ? [] : [{ x, y }];
  });
  const auc = roc.auc === null ? "" : ` (AUC ${roc.auc.toFixed(3)})`;
  return { label: `${label}${auc}`, data, showLine: true, pointRadius: 0, borderColor: colour, backgroundColor: colour };
}

/**
 * The model's curve, then per participant their curve (when they read both classes) and operating point.
 */
export function rocDatasets(reads: ReadsResult): RocDataset[] {
  const model = reads.model ? [curve("model", reads.model, "#18181b")] : [];
  return model.concat(reads.participants.flatMap((row, i) => {
    const colour = COLOURS[i % COLOURS.length] ?? "#000";
    const out: RocDataset[] = row.roc ? [curve(row.participant, row.roc, colour)] : [];
    const { fpr, tpr } = row.ich.point;
    if (fpr !== null && tpr !== null) {
      out.push({
        label: `${row.participant} operating point`,
        data: [{ x: fpr, y: tpr }],
        showLine: false,
        pointRadius: 6,
        borderColor: colour,
        backgroundColor: colour,
      });
    }
    return out;
  }));
}

// --- aided against unaided (the MRMC panels of `ichweb/readerstudy/mrmc_results.py`), drawn as SVG -------

export interface FprTpr {
  fpr: number[];
  tpr: number[];
}

export interface ModalityRoc {
  treatment: string;
  auc: number;
  ci_lower: number;
  ci_upper: number;
  mean_curve: FprTpr;
  readers: (FprTpr & { reader: string; auc: number })[];
}

export interface RocPanel {
  available: boolean;
  reason: string | null;
  modalities?: ModalityRoc[];
}

export interface OperatingPoint {
  fpr: number;
  tpr: number;
  sensitivity: number;
  specificity: number;
  n: number;
}

export interface OperatingPointsPanel {
  available: boolean;
  reason: string | null;
  model?: (FprTpr & { auc: number | null; n: number }) | null;
  readers?: { reader: string; unaided?: OperatingPoint | null; aided?: OperatingPoint | null }[];
}

export interface PlotCurve extends FprTpr {
  label: string;
  colour: string;
  width: number;
  dashed?: boolean;
}

export interface PlotSpec {
  curves: PlotCurve[];
  points: { label: string; x: number; y: number; colour: string; hollow: boolean }[];
  arrows: { label: string; from: XY; to: XY; colour: string }[];
  legend: { label: string; colour: string }[];
}

/** A primitive of the plot, in SVG user units (y grows downwards). */
export type Shape =
  | { kind: "polyline"; points: string; stroke: string; width: number; dash: string | null; label: string }
  | { kind: "arrow"; x1: number; y1: number; x2: number; y2: number; stroke: string; label: string }
  | { kind: "circle"; cx: number; cy: number; r: number; stroke: string; fill: string; label: string }
  | { kind: "text"; x: number; y: number; text: string; anchor: "start" | "middle" | "end" };

export const MODALITY_COLOURS: Readonly<Record<string, string>> = { unaided: "#2563eb", aided: "#dc2626" };

function colourOf(treatment: string): string {
  return MODALITY_COLOURS[treatment] ?? "#52525b";
}

/** Reader-averaged ROC per modality (thick) over each reader's curve (thin), the mean AUC in the legend. */
export function modalityRocSpec(panel: RocPanel): PlotSpec {
  const spec: PlotSpec = { curves: [], points: [], arrows: [], legend: [] };
  for (const m of panel.modalities ?? []) {
    const colour = colourOf(m.treatment);
    for (const r of m.readers) spec.curves.push({ ...r, label: `${m.treatment} · ${r.reader}`, colour, width: 0.6, dashed: true });
    spec.curves.push({ ...m.mean_curve, label: `${m.treatment} · mean`, colour, width: 2.2 });
    spec.legend.push({ label: `${m.treatment}: mean AUC ${m.auc.toFixed(3)} (${m.ci_lower.toFixed(3)}–${m.ci_upper.toFixed(3)})`, colour });
  }
  return spec;
}

/** The model's ROC and each reader's unaided (hollow) and aided (filled) operating points, an arrow between. */
export function arrowsSpec(panel: OperatingPointsPanel): PlotSpec {
  const spec: PlotSpec = { curves: [], points: [], arrows: [], legend: [] };
  const model = panel.model;
  if (model) {
    spec.curves.push({ fpr: model.fpr, tpr: model.tpr, label: "model", colour: "#18181b", width: 1.8 });
    spec.legend.push({ label: `model${model.auc === null ? "" : ` (AUC ${model.auc.toFixed(3)})`}`, colour: "#18181b" });
  }
  (panel.readers ?? []).forEach((row, i) => {
    // Not the modalities' blue and red: here a colour is a reader, the fill tells the modality.
    const colour = COLOURS[(i + 2) % COLOURS.length] ?? "#000";
    const from = row.unaided ? { x: row.unaided.fpr, y: row.unaided.tpr } : null;
    const to = row.aided ? { x: row.aided.fpr, y: row.aided.tpr } : null;
    if (from) spec.points.push({ label: `${row.reader} unaided`, ...from, colour, hollow: true });
    if (to) spec.points.push({ label: `${row.reader} aided`, ...to, colour, hollow: false });
    if (from && to && (from.x !== to.x || from.y !== to.y)) spec.arrows.push({ label: row.reader, from, to, colour });
    spec.legend.push({ label: `${row.reader}: unaided ○ → aided ●`, colour });
  });
  return spec;
}

/** The plot's shapes in a `size` x `size` box: frame, ticks, chance line, curves, arrows, points. */
export function plotShapes(spec: PlotSpec, size = 320): Shape[] {
  const left = 40;
  const bottom = size - 34;
  const span = size - left - 10;
  const px = (x: number) => Math.round((left + x * span) * 10) / 10;
  const py = (y: number) => Math.round((bottom - y * span) * 10) / 10;
  const shapes: Shape[] = [
    { kind: "polyline", points: `${px(0)},${py(1)} ${px(0)},${py(0)} ${px(1)},${py(0)}`, stroke: "#71717a", width: 1, dash: null, label: "axes" },
    { kind: "polyline", points: `${px(0)},${py(0)} ${px(1)},${py(1)}`, stroke: "#d4d4d8", width: 1, dash: "4 4", label: "chance" },
  ];
  for (const t of [0, 0.5, 1]) {
    shapes.push({ kind: "text", x: px(t), y: bottom + 14, text: String(t), anchor: "middle" });
    shapes.push({ kind: "text", x: left - 6, y: py(t) + 4, text: String(t), anchor: "end" });
  }
  shapes.push({ kind: "text", x: px(0.5), y: size - 4, text: "1 − specificity", anchor: "middle" });
  shapes.push({ kind: "text", x: 4, y: py(1) - 6, text: "sensitivity", anchor: "start" });
  for (const c of spec.curves) {
    const points = c.fpr.map((x, k) => `${px(x)},${py(c.tpr[k] ?? 0)}`).join(" ");
    shapes.push({ kind: "polyline", points, stroke: c.colour, width: c.width, dash: c.dashed ? "3 2" : null, label: c.label });
  }
  for (const a of spec.arrows) {
    shapes.push({ kind: "arrow", x1: px(a.from.x), y1: py(a.from.y), x2: px(a.to.x), y2: py(a.to.y), stroke: a.colour, label: a.label });
  }
  for (const p of spec.points) {
    shapes.push({ kind: "circle", cx: px(p.x), cy: py(p.y), r: 4, stroke: p.colour, fill: p.hollow ? "#ffffff" : p.colour, label: p.label });
  }
  return shapes;
}
