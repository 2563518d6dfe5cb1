/** Pure helpers of the dashboards: query strings, number formatting, tables. Tested without a DOM. */

export type Row = Record<string, string | number | boolean | null>;

export function num(value: unknown, digits = 3): string {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "—";
}

export function ci(value: unknown, interval: unknown, digits = 3): string {
  const [lo, hi] = Array.isArray(interval) ? interval : [null, null];
  return `${num(value, digits)} (${num(lo, digits)}–${num(hi, digits)})`;
}

export function pct(value: unknown, digits = 1): string {
  return typeof value === "number" && Number.isFinite(value) ? `${(100 * value).toFixed(digits)} %` : "—";
}

/** The panel URL with the filters it uses (empty values left out). */
export function panelUrl(base: string, filters: Record<string, string>, keys: readonly string[], format?: "csv" | "json"): string {
  const params = new URLSearchParams();
  for (const key of keys) {
    const value = filters[key];
    if (value) params.set(key, value);
  }
  if (format) params.set("format", format);
  const query = params.toString();
  return query ? `${base}?${query}` : base;
}

/** Which filters each panel reads. */
export const PANEL_FILTERS: Readonly<Record<string, readonly string[]>> = {
  roc: ["model", "cohort", "label"],
  pr: ["model", "cohort", "label", "min_precision"],
  summary: ["model", "cohorts"],
  agreement: ["project", "label", "level"],
  progress: ["project"],
  readerstudy: ["study", "label"],
  mrmc: ["study"],
};

/** Columns of a table: the union of the rows' keys in first-seen order. */
export function columns(rows: readonly Row[]): string[] {
  const out: string[] = [];
  for (const row of rows) for (const key of Object.keys(row)) if (!out.includes(key)) out.push(key);
  return out;
}

export function cellText(value: Row[string]): string {
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : num(value);
  if (value === null || value === undefined) return "—";
  return String(value);
}

/** Build an HTML table element from rows (numbers formatted; at most `limit` rows). */
export function tableElement(rows: readonly Row[], limit = 200, highlight?: (row: Row) => boolean): HTMLTableElement {
  const table = document.createElement("table");
  table.className = "table table-compact";
  const cols = columns(rows);
  const head = table.createTHead().insertRow();
  for (const col of cols) {
    const th = document.createElement("th");
    th.textContent = col.replaceAll("_", " ");
    head.append(th);
  }
  const body = table.createTBody();
  for (const row of rows.slice(0, limit)) {
    const tr = body.insertRow();
    if (highlight?.(row)) tr.classList.add("is-positive");
    for (const col of cols) tr.insertCell().textContent = cellText(row[col] ?? null);
  }
  return table;
}

/** Kappa matrix as rows for a table: one row per reader, a column per reader. */
export function matrixRows(readers: readonly string[], matrix: readonly (readonly (number | null)[])[]): Row[] {
  return readers.map((reader, i) => {
    const row: Row = { reader };
    readers.forEach((other, j) => {
      row[other] = matrix[i]?.[j] ?? null;
    });
    return row;
  });
}

/** Pick the downsampled points of a long curve (charts stay fast with thousands of thresholds). */
export function thin<T>(points: readonly T[], max = 400): T[] {
  if (points.length <= max) return [...points];
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => points[Math.round(i * step)] as T);
}
