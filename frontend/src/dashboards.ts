/**
 * Team-lead dashboards (Vite entry "src/dashboards.ts"): ROC with AUC CIs and reader points, PR with the
 * threshold table, the Table-1 summary, reader agreement (kappa), a reader study's aided and unaided reads
 * compared (MRMC) and labeling progress. Every panel links its data as CSV and JSON. Template contract:
 * templates/analytics/dashboard.html.
 */
import {
  BarController,
  type ChartConfiguration,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  ScatterController,
  Tooltip,
} from "chart.js";

import { apiJson } from "./lib/api";
import { startPage } from "./lib/page";
import { ci, matrixRows, num, PANEL_FILTERS, panelUrl, pct, type Row, tableElement, thin } from "./dashboards/format";
import { renderPlot } from "./readerstudy/plot";
import { arrowsSpec, modalityRocSpec, type OperatingPointsPanel, type RocPanel } from "./readerstudy/roc";

Chart.register(LineController, ScatterController, BarController, LineElement, PointElement, BarElement, LinearScale, CategoryScale, Legend, Tooltip);

interface Options {
  models: { id: number; name: string; is_active: boolean }[];
  cohorts: { key: string; name: string }[];
  projects: { id: number; name: string }[];
  studies: { id: number; name: string }[];
  labels: string[];
}

type Doc = Record<string, unknown> & { table?: Row[]; note?: string };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- charts of several types share one registry
const charts = new Map<string, Chart<any, any, any>>();

function fill(select: HTMLSelectElement, options: { value: string; text: string; selected?: boolean }[]): void {
  select.replaceChildren(
    ...options.map((o) => {
      const el = document.createElement("option");
      el.value = o.value;
      el.textContent = o.text;
      el.selected = Boolean(o.selected);
      return el;
    }),
  );
}

function filters(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  new FormData(form).forEach((value, key) => {
    out[key] = String(value);
  });
  return out;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see charts
function draw(panel: HTMLElement, key: string, config: ChartConfiguration<any, any, any>): void {
  const canvas = panel.querySelector("canvas");
  if (!canvas) return;
  charts.get(key)?.destroy();
  charts.set(key, new Chart(canvas, config));
  panel.dataset["rendered"] = "true";
}

function numbers(panel: HTMLElement, ...nodes: (Node | string)[]): void {
  panel.querySelector('[data-role="numbers"]')?.replaceChildren(...nodes);
}

function paragraph(text: string): HTMLParagraphElement {
  const p = document.createElement("p");
  p.textContent = text;
  return p;
}

function renderRoc(panel: HTMLElement, doc: Doc): void {
  const curve = doc["curve"] as { fpr: number[]; tpr: number[] } | undefined;
  const auc = doc["auc"] as { value: number; bootstrap: number[]; delong: number[] } | undefined;
  const readers = (doc["readers"] as { name: string; fpr: number; tpr: number }[] | undefined) ?? [];
  if (!curve || !auc) {
    numbers(panel, paragraph(String(doc.note ?? "no data")));
    return;
  }
  const points = thin(curve.fpr.map((x, i) => ({ x, y: curve.tpr[i] ?? 0 })));
  draw(panel, "roc", {
    type: "scatter",
    data: {
      datasets: [
        { type: "line", label: `model (AUC ${num(auc.value)})`, data: points, borderColor: "#111827", pointRadius: 0, showLine: true },
        { type: "scatter", label: "readers", data: readers.map((r) => ({ x: r.fpr, y: r.tpr })), backgroundColor: "#ef4444", pointRadius: 5 },
        { type: "line", label: "chance", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#d1d5db", borderDash: [4, 4], pointRadius: 0 },
      ],
    },
    options: { animation: false, scales: { x: { min: 0, max: 1, title: { display: true, text: "1 − specificity" } }, y: { min: 0, max: 1, title: { display: true, text: "sensitivity" } } } },
  });
  const op = doc["operating_point"] as Record<string, { value: number; wald: number[]; wilson: number[] }> | undefined;
  const lines = [
    paragraph(`AUC ${ci(auc.value, auc.bootstrap)} bootstrap; DeLong ${ci(auc.value, auc.delong)}`),
    paragraph(`${String(doc["n_cases"])} cases, ${String(doc["n_positive"])} positive`),
  ];
  if (op?.["sensitivity"] && op["specificity"]) {
    lines.push(
      paragraph(
        `At the model's threshold: sensitivity ${pct(op["sensitivity"].value)} (Wald ${pct(op["sensitivity"].wald[0])}–${pct(op["sensitivity"].wald[1])}), ` +
          `specificity ${pct(op["specificity"].value)} (Wald ${pct(op["specificity"].wald[0])}–${pct(op["specificity"].wald[1])})`,
      ),
    );
  }
  if (readers.length) lines.push(tableElement(readers as unknown as Row[]));
  numbers(panel, ...lines);
}

function renderPr(panel: HTMLElement, doc: Doc): void {
  const curve = doc["curve"] as { precision: number[]; recall: number[] } | undefined;
  if (!curve) {
    numbers(panel, paragraph(String(doc.note ?? "no data")));
    return;
  }
  draw(panel, "pr", {
    type: "scatter",
    data: { datasets: [{ type: "line", label: `AP ${num(doc["average_precision"])}`, data: thin(curve.recall.map((x, i) => ({ x, y: curve.precision[i] ?? 0 }))), borderColor: "#2563eb", pointRadius: 0, showLine: true }] },
    options: { animation: false, scales: { x: { min: 0, max: 1, title: { display: true, text: "recall" } }, y: { min: 0, max: 1, title: { display: true, text: "precision" } } } },
  });
  const chosen = doc["chosen_threshold"];
  numbers(
    panel,
    paragraph(`Threshold keeping precision ≥ ${num(doc["min_precision"], 2)}: ${num(chosen, 4)}`),
    tableElement(doc.table ?? [], 60, (row) => row["threshold"] === chosen),
  );
}

function renderSummary(panel: HTMLElement, doc: Doc): void {
  numbers(panel, tableElement(doc.table ?? []));
  panel.dataset["rendered"] = "true";
}

function renderAgreement(panel: HTMLElement, doc: Doc): void {
  const readers = (doc["readers"] as string[] | undefined) ?? [];
  const matrix = (doc["kappa_matrix"] as (number | null)[][] | undefined) ?? [];
  numbers(
    panel,
    paragraph(`Fleiss' kappa ${num(doc["fleiss_kappa"])} · percentage agreement ${pct(doc["percent_agreement"])} · ${String(doc["n_units"])} ${String(doc["level"])}s`),
    tableElement(matrixRows(readers, matrix)),
    tableElement(doc.table ?? []),
  );
  panel.dataset["rendered"] = "true";
}

function renderProgress(panel: HTMLElement, doc: Doc): void {
  const rows = doc.table ?? [];
  draw(panel, "progress", {
    type: "bar",
    data: {
      labels: rows.map((r) => String(r["reader"])),
      datasets: [
        { label: "submitted", data: rows.map((r) => Number(r["submitted"])), backgroundColor: "#22c55e" },
        { label: "assigned", data: rows.map((r) => Number(r["assigned"])), backgroundColor: "#d1d5db" },
      ],
    },
    options: { animation: false, indexAxis: "y" },
  });
  numbers(panel, tableElement(rows));
}

interface Overlap {
  inside: number;
  total: number;
  percent: number | null;
}

function overlapText(name: string, o: Record<string, unknown> | null | undefined): string {
  if (!o) return `${name}: —`;
  const part = (key: string, label: string): string => {
    const v = o[key] as Overlap | undefined;
    return v ? `${label} ${v.inside}/${v.total} (${num(v.percent, 1)} %)` : `${label} —`;
  };
  return `${name}: ${part("overall", "all")}, ${part("slices_1_2_points", "1–2 points")}, ${part("slices_3plus_points", "≥3 points")}`;
}

function renderReaderStudy(panel: HTMLElement, doc: Doc): void {
  if (!doc["study"]) {
    numbers(panel, paragraph(String(doc.note ?? "no reader study yet")));
    panel.dataset["rendered"] = "true";
    return;
  }
  const model = doc["model_roc"] as { auc: number; fpr: number[]; tpr: number[] } | null;
  const readers = (doc["readers"] as { name: string; fpr: number; tpr: number }[] | undefined) ?? [];
  const datasets: ChartConfiguration<"scatter">["data"]["datasets"] = [
    { label: "readers", data: readers.map((r) => ({ x: r.fpr, y: r.tpr })), backgroundColor: "#ef4444", pointRadius: 5 },
  ];
  if (model) {
    datasets.unshift({
      label: `model (AUC ${num(model.auc)})`,
      data: model.fpr.map((x, i) => ({ x, y: model.tpr[i] ?? 0 })),
      borderColor: "#111827",
      pointRadius: 0,
      showLine: true,
    });
  }
  draw(panel, "readerstudy", {
    type: "scatter",
    data: { datasets },
    options: { animation: false, scales: { x: { min: 0, max: 1, title: { display: true, text: "1 − specificity" } }, y: { min: 0, max: 1, title: { display: true, text: "sensitivity" } } } },
  });
  const agreement = doc["agreement"] as Doc | undefined;
  const localisation = doc["localisation"] as { reference?: Record<string, unknown> | null } | undefined;
  numbers(
    panel,
    paragraph(`${String(doc["n_cases"])} cases; readers' calls against ground truth (Wald 95 % CIs):`),
    tableElement(doc.table ?? []),
    paragraph(`Readers' agreement (${String(doc["label"])}, case level): Fleiss' κ ${num(agreement?.["fleiss_kappa"])}, agreement ${pct(agreement?.["percent_agreement"])}`),
    paragraph("Prediction basis, reader vs model (the lowest-distance set):"),
    tableElement((doc["basis_vs_model"] as Row[] | undefined) ?? []),
    paragraph("Prediction basis, reader vs reader:"),
    tableElement((doc["basis_between_readers"] as Row[] | undefined) ?? []),
    paragraph(overlapText("Reference points inside the model's segmentation", localisation?.reference)),
  );
}

function link(href: string, text: string): HTMLAnchorElement {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

function plotInto(box: Element, spec: ReturnType<typeof arrowsSpec>, label: string): void {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "rs-plot");
  svg.setAttribute("width", "320");
  svg.setAttribute("height", "320");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  box.append(svg);
  renderPlot(svg, spec);
}

function renderMrmc(panel: HTMLElement, doc: Doc): void {
  panel.dataset["rendered"] = "true";
  const box = panel.querySelector('[data-role="plot"]');
  box?.replaceChildren();
  if (!doc["study"]) {
    numbers(panel, paragraph(String(doc.note ?? "no reader study yet")));
    return;
  }
  const panels = doc["panels"] as { roc: RocPanel; operating_points: OperatingPointsPanel };
  const analysis = doc["analysis"] as { available: boolean; reason: string | null };
  if (box && panels.operating_points.available) plotInto(box, arrowsSpec(panels.operating_points), "the model's ROC and each reader's unaided and aided operating points");
  if (box && panels.roc.available) plotInto(box, modalityRocSpec(panels.roc), "reader-averaged ROC per modality");
  const links = (doc["links"] as Record<string, string> | undefined) ?? {};
  const downloads = document.createElement("p");
  downloads.append("Each panel: ");
  for (const [name, href] of Object.entries(links)) downloads.append(link(`${href}?format=csv`, `${name} CSV`), " ", link(href, "JSON"), " · ");
  downloads.append(link(String(doc["readings_url"]), "readings.csv"), " · ", link(String(doc["results_url"]), "results page"));
  const study = doc["study"] as { name: string; design: string };
  numbers(
    panel,
    paragraph(`${study.name} (${study.design}): ${(doc["readers"] as string[]).length} readers, ${String(doc["n_cases"])} cases.`),
    ...(analysis.available ? [] : [paragraph(`The MRMC analysis cannot run: ${analysis.reason ?? ""}`)]),
    tableElement(doc.table ?? []),
    downloads,
  );
}

const RENDER: Record<string, (panel: HTMLElement, doc: Doc) => void> = {
  mrmc: renderMrmc,
  roc: renderRoc,
  pr: renderPr,
  summary: renderSummary,
  agreement: renderAgreement,
  progress: renderProgress,
  readerstudy: renderReaderStudy,
};

async function refresh(root: HTMLElement, form: HTMLFormElement): Promise<void> {
  const values = filters(form);
  await Promise.all(
    [...root.querySelectorAll<HTMLElement>("[data-panel]")].map(async (panel) => {
      const name = panel.dataset["panel"] ?? "";
      const base = panel.dataset["url"] ?? "";
      const keys = PANEL_FILTERS[name] ?? [];
      const links = panel.querySelector('[data-role="links"]');
      if (links) {
        const csv = document.createElement("a");
        csv.href = panelUrl(base, values, keys, "csv");
        csv.textContent = "CSV";
        const json = document.createElement("a");
        json.href = panelUrl(base, values, keys, "json");
        json.textContent = "JSON";
        links.replaceChildren(csv, " · ", json);
      }
      try {
        RENDER[name]?.(panel, await apiJson<Doc>(panelUrl(base, values, keys)));
      } catch (error) {
        numbers(panel, paragraph(String(error)));
      }
    }),
  );
}

export async function mountDashboards(root: HTMLElement): Promise<void> {
  root.setAttribute("data-ready", "");
  const form = root.querySelector<HTMLFormElement>('[data-role="filters"]');
  const status = root.querySelector<HTMLElement>('[data-role="status"]');
  const url = root.dataset["optionsUrl"];
  if (!form || !url) return;
  const options = await apiJson<Options>(url);
  const select = (name: string) => form.querySelector<HTMLSelectElement>(`select[name="${name}"]`);
  const active = options.models.find((m) => m.is_active) ?? options.models[0];
  fill(select("model")!, options.models.map((m) => ({ value: String(m.id), text: `${m.name}${m.is_active ? " (active)" : ""}`, selected: m === active })));
  fill(select("cohort")!, options.cohorts.map((c) => ({ value: c.key, text: c.name, selected: active !== undefined && c.key === `test:${active.id}` })));
  fill(select("label")!, options.labels.map((l) => ({ value: l, text: l, selected: l === "ANY" })));
  fill(select("project")!, options.projects.map((p) => ({ value: String(p.id), text: p.name })));
  fill(select("study")!, options.studies.map((s) => ({ value: String(s.id), text: s.name })));
  form.addEventListener("change", () => void refresh(root, form));
  await refresh(root, form);
  if (status) status.textContent = options.models.length ? "" : "No model yet: model panels stay empty until a run succeeds.";
}

startPage("dashboards", mountDashboards);
