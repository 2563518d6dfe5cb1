/** The review page's study context (`GET /api/v1/analytics/case/{series}/`): reads, agreement, cohort. */

export interface ContextProject {
  project: { id: number; name: string };
  reading_over: boolean;
  reads?: Record<string, string | number | boolean>[];
  unanimous?: Record<string, boolean>;
  project_fleiss_kappa_any?: number | null;
  project_percent_agreement_any?: number | null;
  model_auc_any?: number | null;
}

export interface CaseContext {
  series: number;
  ground_truth: Record<string, number> | null;
  projects: ContextProject[];
}

const fmt = (v: number | null | undefined, digits = 3): string =>
  typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "—";

/** One line per project: agreement of this case's reads and the project's kappa and the model's AUC. */
export function summaryLine(p: ContextProject): string {
  if (!p.reading_over) return `${p.project.name}: reading not over — reads stay hidden until every read is submitted.`;
  const split = Object.entries(p.unanimous ?? {})
    .filter(([, same]) => !same)
    .map(([label]) => label);
  const agreement = split.length ? `readers differ on ${split.join(", ")}` : "readers agree on every label";
  return (
    `${p.project.name}: ${agreement}; project Fleiss' κ (any ICH, case level) ${fmt(p.project_fleiss_kappa_any)}, ` +
    `agreement ${fmt(p.project_percent_agreement_any)}; model AUC on this project ${fmt(p.model_auc_any)}`
  );
}

export function renderContext(target: HTMLElement, doc: CaseContext, labels: readonly string[]): void {
  const nodes: Node[] = [];
  const truth = doc.ground_truth;
  const p = document.createElement("p");
  p.textContent = truth
    ? `Ground truth: ${labels.filter((l) => truth[l]).join(", ") || "no haemorrhage"}`
    : "No ground truth for this series.";
  nodes.push(p);
  for (const project of doc.projects) {
    const line = document.createElement("p");
    line.textContent = summaryLine(project);
    nodes.push(line);
    if (!project.reads?.length) continue;
    const table = document.createElement("table");
    table.className = "table table-compact";
    const head = table.createTHead().insertRow();
    for (const col of ["reader", ...labels]) head.insertCell().textContent = col;
    const body = table.createTBody();
    for (const read of project.reads) {
      const tr = body.insertRow();
      tr.insertCell().textContent = `${String(read["reader"])}${read["excluded"] ? " (excluded)" : ""}`;
      for (const label of labels) tr.insertCell().textContent = read[label] ? "✓" : "·";
    }
    nodes.push(table);
  }
  if (doc.projects.length === 0) {
    const none = document.createElement("p");
    none.textContent = "This series is in no labeling project.";
    nodes.push(none);
  }
  target.classList.remove("muted");
  target.replaceChildren(...nodes);
}
