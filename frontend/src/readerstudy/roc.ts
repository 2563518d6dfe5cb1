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
