/**
 * Reader-study pages (Vite entry "src/readerstudy.ts").
 *
 * Task pages: `<div id="readerstudy" data-task="read|localise|questionnaire|consensus"
 * data-api-url="<task list API>" data-study-url="<study page>">` with a `[data-role=status]` line; the
 * app works only through the task API, where blinding and the task order are enforced.
 * Results page: `<canvas id="rs-roc">` with the reads results in `<script id="rs-reads">` (json_script);
 * the comparison of the modalities in `<script id="rs-mrmc">`, drawn into `<svg id="rs-mrmc-roc">` (ROC per
 * modality) and `<svg id="rs-arrows">` (the model's ROC and the readers' operating points).
 */
import { Chart, Legend, LinearScale, LineElement, PointElement, ScatterController, Tooltip } from "chart.js";

import "./readerstudy/readerstudy.css";
import { ConsensusTask, LocaliseTask } from "./readerstudy/points";
import { QuestionnaireTask } from "./readerstudy/questionnaire";
import { ReadTask } from "./readerstudy/reads";
import { renderPlot } from "./readerstudy/plot";
import { arrowsSpec, modalityRocSpec, type OperatingPointsPanel, type ReadsResult, type RocPanel, rocDatasets } from "./readerstudy/roc";
import type { Task, TaskContext, TaskDeps } from "./readerstudy/task";

const TASKS = {
  read: ReadTask,
  localise: LocaliseTask,
  questionnaire: QuestionnaireTask,
  consensus: ConsensusTask,
} as const;

/** Mount the task page in `root`; resolves once the first item is shown (or the task is found closed). */
export async function mountTask(root: HTMLElement, deps: TaskDeps = {}): Promise<Task<never> | null> {
  const kind = root.dataset["task"] as keyof typeof TASKS | undefined;
  const apiUrl = root.dataset["apiUrl"];
  if (!kind || !(kind in TASKS) || !apiUrl) return null;
  const ctx: TaskContext = { root, apiUrl, studyUrl: root.dataset["studyUrl"] ?? "/reader-studies/", deps };
  const task = new TASKS[kind](ctx);
  await task.start();
  return task as unknown as Task<never>;
}

export function drawRoc(canvas: HTMLCanvasElement, reads: ReadsResult): Chart {
  Chart.register(ScatterController, LineElement, PointElement, LinearScale, Legend, Tooltip);
  const chance = { label: "chance", data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], showLine: true, pointRadius: 0, borderDash: [4, 4], borderColor: "#a1a1aa" };
  return new Chart(canvas, {
    type: "scatter",
    data: { datasets: [...rocDatasets(reads), chance] },
    options: {
      animation: false,
      scales: {
        x: { min: 0, max: 1, title: { display: true, text: "1 − specificity" } },
        y: { min: 0, max: 1, title: { display: true, text: "sensitivity" } },
      },
    },
  });
}

/** The results page's plots of the aided/unaided comparison (the panels that can be drawn). */
export function drawMrmc(doc: { panels: { roc: RocPanel; operating_points: OperatingPointsPanel } }): void {
  const roc = document.getElementById("rs-mrmc-roc");
  if (roc instanceof SVGSVGElement && doc.panels.roc.available) renderPlot(roc, modalityRocSpec(doc.panels.roc));
  const arrows = document.getElementById("rs-arrows");
  const points = doc.panels.operating_points;
  if (arrows instanceof SVGSVGElement && points.available) renderPlot(arrows, arrowsSpec(points));
}

if (typeof document !== "undefined") {
  const root = document.getElementById("readerstudy");
  if (root) void mountTask(root);
  const canvas = document.getElementById("rs-roc");
  const data = document.getElementById("rs-reads");
  if (canvas instanceof HTMLCanvasElement && data?.textContent) {
    drawRoc(canvas, JSON.parse(data.textContent) as ReadsResult);
  }
  const mrmc = document.getElementById("rs-mrmc");
  if (mrmc?.textContent) drawMrmc(JSON.parse(mrmc.textContent) as Parameters<typeof drawMrmc>[0]);
}
