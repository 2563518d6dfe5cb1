/**
 * Review page (Vite entry "src/review.ts"): the slice-by-slice probability chart per subtype (the paper's
 * Fig. 2a), the case predictions at their thresholds, a slice viewer with the attention heatmap overlay
 * (toggle, opacity) and the prediction-basis panel of the shown map.
 *
 * Template contract: `<div id="review" data-review-url="/api/v1/modeling/review/{series}/">` holding the
 * elements named by `data-role` (see templates/modeling/review.html).
 */
import {
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  type Plugin,
  PointElement,
  Tooltip,
} from "chart.js";

import { apiJson } from "./lib/api";
import { startPage } from "./lib/page";
import { type CaseContext, renderContext } from "./review/context";
import {
  callText,
  chartSeries,
  initialSlice,
  type MapDoc,
  mapsOnSlice,
  percent,
  pickMap,
  ready,
  type ReviewDoc,
} from "./review/model";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

const POLL_MS = 1500;

function role<T extends HTMLElement = HTMLElement>(root: Element, name: string): T {
  const el = root.querySelector<T>(`[data-role="${name}"]`);
  if (!el) throw new Error(`review template lacks data-role="${name}"`);
  return el;
}

export class ReviewPage {
  index = 0;
  label: string | null = null;
  chart: Chart | null = null;

  constructor(
    readonly root: HTMLElement,
    readonly doc: ReviewDoc,
  ) {}

  mount(): void {
    const { root, doc } = this;
    role(root, "status").hidden = true;
    role(root, "body").hidden = false;
    role(root, "model").textContent = doc.model
      ? `Model ${doc.model.name} (${doc.model.archs.join(", ")})${doc.model.is_active ? ", active" : ""}`
      : "";
    this.renderCase();
    this.renderExports();
    const slider = role<HTMLInputElement>(root, "slider");
    slider.max = String(doc.series.n_slices - 1);
    slider.addEventListener("input", () => this.show(Number(slider.value)));
    role(root, "prev").addEventListener("click", () => this.show(this.index - 1));
    role(root, "next").addEventListener("click", () => this.show(this.index + 1));
    role(root, "preset").addEventListener("change", () => this.show(this.index));
    role(root, "overlay-toggle").addEventListener("change", () => this.applyOverlayStyle());
    role(root, "opacity").addEventListener("input", () => this.applyOverlayStyle());
    role<HTMLSelectElement>(root, "map-label").addEventListener("change", (e) => {
      this.label = (e.target as HTMLSelectElement).value;
      this.show(this.index);
    });
    root.addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" || e.key === "ArrowRight") this.show(this.index + 1);
      if (e.key === "ArrowDown" || e.key === "ArrowLeft") this.show(this.index - 1);
    });
    this.drawChart();
    this.show(initialSlice(doc));
    void this.loadContext();
  }

  async loadContext(): Promise<void> {
    const section = this.root.querySelector<HTMLElement>('[data-role="context"]');
    const body = this.root.querySelector<HTMLElement>('[data-role="context-body"]');
    const url = section?.dataset["url"];
    if (!section || !body || !url) return;
    try {
      renderContext(body, await apiJson<CaseContext>(url), this.doc.labels ?? []);
    } catch (error) {
      body.textContent = `Study context unavailable: ${String(error)}`;
    }
  }

  /** The DICOM download links (leads and admins: the template has the block only for them). */
  renderExports(): void {
    const block = this.root.querySelector<HTMLElement>('[data-role="exports"]');
    const list = block?.querySelector("ul");
    if (!block || !list || !this.doc.exports?.length) return;
    list.replaceChildren(
      ...this.doc.exports.map(({ label, url }) => {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = url;
        a.textContent = label;
        a.setAttribute("download", "");
        li.append(a);
        return li;
      }),
    );
    block.hidden = false;
  }

  renderCase(): void {
    const body = role(this.root, "case").querySelector("tbody");
    if (!body) return;
    body.replaceChildren(
      ...(this.doc.labels ?? []).map((label) => {
        const row = this.doc.case?.[label];
        const tr = document.createElement("tr");
        const threshold = this.doc.thresholds?.[label];
        for (const text of [
          label,
          percent(row?.probability),
          typeof threshold === "number" ? threshold.toFixed(4) : "—",
          callText(row?.positive),
        ]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        if (row?.positive) tr.classList.add("is-positive");
        return tr;
      }),
    );
  }

  currentMap(): MapDoc | null {
    return pickMap(mapsOnSlice(this.doc, this.index), this.label);
  }

  show(index: number): void {
    const n = this.doc.series.n_slices;
    this.index = Math.max(0, Math.min(n - 1, index));
    const slice = this.doc.series.slices[this.index];
    const preset = role<HTMLSelectElement>(this.root, "preset").value;
    if (slice) role<HTMLImageElement>(this.root, "slice").src = `${slice.image_url}?preset=${preset}`;
    role<HTMLInputElement>(this.root, "slider").value = String(this.index);
    const maps = mapsOnSlice(this.doc, this.index);
    const map = pickMap(maps, this.label);
    const select = role<HTMLSelectElement>(this.root, "map-label");
    select.replaceChildren(
      ...maps.map((m) => {
        const option = document.createElement("option");
        option.value = m.label;
        option.textContent = `${m.label} map`;
        option.selected = m === map;
        return option;
      }),
    );
    select.hidden = maps.length === 0;
    const overlay = role<HTMLImageElement>(this.root, "overlay");
    overlay.hidden = map === null;
    if (map) overlay.src = map.overlay_url;
    const probs = this.doc.slice_probabilities?.[this.index] ?? [];
    const any = (this.doc.labels ?? []).indexOf("ANY");
    role(this.root, "slice-label").textContent =
      `slice ${this.index + 1} / ${n} · any ICH ${percent(any >= 0 ? probs[any] : null)}` +
      (map ? ` · ${map.label} map, area ${map.area_percent?.toFixed(1) ?? "—"} % of head` : " · no map");
    this.applyOverlayStyle();
    this.renderBasis(map);
    this.chart?.update("none");
  }

  applyOverlayStyle(): void {
    const overlay = role<HTMLImageElement>(this.root, "overlay");
    const on = role<HTMLInputElement>(this.root, "overlay-toggle").checked;
    const opacity = Number(role<HTMLInputElement>(this.root, "opacity").value) / 100;
    overlay.style.opacity = on ? String(opacity) : "0";
  }

  renderBasis(map: MapDoc | null): void {
    const list = role(this.root, "basis");
    if (!map || map.basis.length === 0) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = map ? "No atlas for this model." : "This slice has no attention map.";
      list.replaceChildren(li);
      return;
    }
    list.replaceChildren(
      ...map.basis.map((b) => {
        const li = document.createElement("li");
        li.className = "basis-item";
        const patch = document.createElement("img");
        patch.src = b.entry.patch_url;
        patch.alt = `atlas patch ${b.entry.id}`;
        patch.width = 96;
        const act = document.createElement("img");
        act.src = b.entry.map_url;
        act.alt = `activation map ${b.entry.id}`;
        act.width = 96;
        const text = document.createElement("span");
        text.textContent = `${b.entry.label} · ${b.entry.block}#${b.entry.filter} · d = ${b.distance.toFixed(3)}`;
        li.append(patch, act, text);
        return li;
      }),
    );
  }

  drawChart(): void {
    const canvas = role<HTMLCanvasElement>(this.root, "chart");
    const series = chartSeries(this.doc);
    const labels = this.doc.series.slices.map((s) => String(s.index + 1));
    const marker: Plugin<"line"> = {
      id: "current-slice",
      afterDatasetsDraw: (chart) => {
        const x = chart.scales["x"]?.getPixelForValue(this.index);
        if (x === undefined) return;
        const { ctx, chartArea } = chart;
        ctx.save();
        ctx.strokeStyle = "#0ea5e9";
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.restore();
      },
    };
    this.chart = new Chart(canvas, {
      type: "line",
      data: {
        labels,
        datasets: [
          ...series.map((s) => ({
            label: s.label,
            data: s.values,
            borderColor: s.color,
            backgroundColor: s.color,
            pointRadius: 2,
            tension: 0,
          })),
          ...series
            .filter((s) => s.threshold !== null)
            .map((s) => ({
              label: `${s.label} threshold`,
              data: labels.map(() => s.threshold as number),
              borderColor: s.color,
              borderDash: [4, 4],
              borderWidth: 1,
              pointRadius: 0,
            })),
        ],
      },
      options: {
        animation: false,
        responsive: true,
        scales: { y: { min: 0, max: 1, title: { display: true, text: "probability" } }, x: { title: { display: true, text: "slice" } } },
        plugins: { legend: { labels: { filter: (item) => !item.text.endsWith("threshold") } } },
        onClick: (_event, elements) => {
          const first = elements[0];
          if (first) this.show(first.index);
        },
      },
      plugins: [marker],
    });
  }
}

export async function mountReview(root: HTMLElement, fetchDoc = (url: string) => apiJson<ReviewDoc>(url)): Promise<void> {
  const url = root.dataset["reviewUrl"];
  if (!url) return;
  root.setAttribute("data-ready", "");
  const status = role(root, "status");
  for (;;) {
    let doc: ReviewDoc;
    try {
      doc = await fetchDoc(url);
    } catch (error) {
      status.textContent = `Could not load the predictions: ${String(error)}`;
      return;
    }
    if (ready(doc)) {
      root.querySelector<HTMLProgressElement>('[data-role="job-progress"]')?.setAttribute("hidden", "");
      new ReviewPage(root, doc).mount();
      return;
    }
    if (!doc.job) {
      status.textContent = "No predictions for this series yet: no model has run on it.";
      return;
    }
    if (doc.job.status === "failed") {
      status.textContent = `The inference job failed: ${doc.job.error}`;
      return;
    }
    status.textContent = `Inference ${doc.job.status}: ${doc.job.message} (${Math.round(100 * doc.job.progress)} %)`;
    const bar = root.querySelector<HTMLProgressElement>('[data-role="job-progress"]');
    if (bar) {
      bar.hidden = false;
      bar.value = doc.job.progress;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

startPage("review", mountReview);
