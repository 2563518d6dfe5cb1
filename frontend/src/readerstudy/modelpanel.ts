/**
 * The model panel of an aided read: the case's probabilities and calls at the model's thresholds, a small
 * chart of the per-slice probability (threshold dashed, the shown slice marked), the prediction-basis
 * exemplars of the shown slice, and the overlay toggle that lays the attention map over the slice.
 */
import { callRows, exemplarsAt, overlayAt, sliceChart } from "./aided";
import { el, type SliceStage } from "./dom";
import type { ModelOutput } from "./model";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 240;
const HEIGHT = 60;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export class ModelPanel {
  readonly root = el("section", { class: "rs-model", "data-role": "model", hidden: true });
  readonly calls = el("table", { class: "table table-compact", "data-role": "model-calls" });
  readonly chart = svg("svg", { class: "rs-slice-chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, "data-role": "slice-chart", role: "img" });
  readonly exemplars = el("div", { class: "rs-exemplars", "data-role": "exemplars" });
  readonly toggle = el("input", { type: "checkbox", checked: true, "data-role": "overlay-toggle" });
  readonly toggleLabel = el("label", { class: "check", hidden: true }, this.toggle, " Attention map");
  model: ModelOutput | null = null;

  constructor(readonly stage: SliceStage) {
    this.chart.setAttribute("aria-label", "the model's probability per slice");
    this.toggle.addEventListener("change", () => this.applyOverlay());
    this.root.append(
      el("h3", {}, "The model's output"),
      this.calls,
      el("p", { class: "muted" }, "Probability per slice (dashed: the threshold; dot: this slice)"),
      this.chart,
      el("p", { class: "muted" }, "Prediction basis: training patches whose features the model found most alike"),
      this.exemplars,
    );
  }

  /** Show `model` (or hide the panel for an unaided read). */
  show(model: ModelOutput | null, index: number): void {
    this.model = model;
    this.root.hidden = model === null;
    this.toggleLabel.hidden = model === null;
    if (!model) {
      this.stage.overlay.hidden = true;
      return;
    }
    const head = el("tr", {}, ...["label", "probability", "threshold", "call"].map((t) => el("th", {}, t)));
    const rows = callRows(model).map((row) =>
      el(
        "tr",
        { class: row.positive ? "is-positive" : undefined, "data-label": row.label },
        el("td", {}, row.label),
        el("td", {}, row.probability),
        el("td", {}, row.threshold),
        el("td", {}, row.call),
      ),
    );
    this.calls.replaceChildren(el("thead", {}, head), el("tbody", {}, ...rows));
    this.slice(index);
  }

  /** The shown slice changed: its chart marker, exemplars and overlay. */
  slice(index: number): void {
    const model = this.model;
    if (!model) return;
    const threshold = model.case[model.label]?.threshold ?? null;
    const chart = sliceChart(model.slice_probabilities, threshold, index, WIDTH, HEIGHT);
    const parts: SVGElement[] = [svg("polyline", { points: chart.points, class: "rs-chart-line" })];
    if (chart.threshold !== null) {
      parts.push(svg("line", { x1: 0, x2: WIDTH, y1: chart.threshold, y2: chart.threshold, class: "rs-chart-threshold" }));
    }
    if (chart.marker) parts.push(svg("circle", { cx: chart.marker.x, cy: chart.marker.y, r: 3, class: "rs-chart-marker" }));
    this.chart.replaceChildren(...parts);
    this.exemplars.replaceChildren(
      ...exemplarsAt(model, index).map((e) =>
        el(
          "figure",
          { class: "rs-exemplar", "data-exemplar": e.number },
          el("img", { src: e.patch_url, alt: `exemplar ${e.number}: image patch`, width: 72 }),
          el("img", { src: e.map_url, alt: `exemplar ${e.number}: activation map`, width: 72 }),
          el("figcaption", {}, `slice ${e.slice + 1}`),
        ),
      ),
    );
    const overlay = overlayAt(model, index);
    this.stage.overlay.hidden = overlay === null;
    if (overlay) this.stage.overlay.src = overlay;
    this.applyOverlay();
  }

  applyOverlay(): void {
    this.stage.overlay.style.opacity = this.toggle.checked ? "0.5" : "0";
  }
}
