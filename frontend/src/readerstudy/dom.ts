/** DOM building blocks of the reader-study pages: elements, the slice stage with its point layer. */
import { type Box, markerRadius, type Point, toImagePoint } from "./model";

type Attrs = Record<string, string | number | boolean | undefined>;

/** `el("button", { type: "button", "data-role": "next" }, "Next")`; `false`/`undefined` attributes are left out. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
export const PRESETS = ["brain", "subdural", "stroke", "bone"] as const;

/** A set of points drawn in one colour (`className`), named in `data-layer`. */
export interface Layer {
  name: string;
  points: Point[];
  className: string;
}

/**
 * The slice as a server-rendered PNG in a window preset, optionally an overlay image above it, and an SVG
 * layer of points in slice pixel coordinates. `onPoint` receives clicks as slice pixels.
 */
export class SliceStage {
  readonly root: HTMLElement;
  readonly image: HTMLImageElement;
  readonly overlay: HTMLImageElement;
  readonly svg: SVGSVGElement;
  readonly preset: HTMLSelectElement;
  private url = "";
  private columns = 1;
  private rows = 1;

  constructor(onPoint: ((p: Point) => void) | null = null) {
    this.image = el("img", { "data-role": "image", alt: "CT slice", draggable: "false" });
    this.overlay = el("img", { "data-role": "overlay", alt: "attention map", class: "rs-overlay", hidden: true });
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.setAttribute("class", "rs-points");
    this.svg.setAttribute("data-role", "points");
    this.preset = el(
      "select",
      { "data-role": "preset", "aria-label": "window" },
      ...PRESETS.map((p) => el("option", { value: p }, p)),
    );
    this.preset.addEventListener("change", () => this.load());
    this.root = el("div", { class: "rs-stage", "data-role": "stage" }, this.image, this.overlay);
    this.root.append(this.svg);
    if (onPoint) {
      this.root.classList.add("is-editable");
      this.root.addEventListener("click", (event) => {
        const box: Box = this.image.getBoundingClientRect();
        if (!box.width || !box.height) return;
        onPoint(toImagePoint(event.clientX, event.clientY, box, this.columns, this.rows));
      });
    }
  }

  /** Show a slice (`url` without the preset) of `columns` x `rows` pixels. */
  show(url: string, columns: number, rows: number): void {
    this.url = url;
    this.columns = columns;
    this.rows = rows;
    this.svg.setAttribute("viewBox", `-0.5 -0.5 ${columns} ${rows}`);
    this.load();
  }

  private load(): void {
    const sep = this.url.includes("?") ? "&" : "?";
    this.image.src = `${this.url}${sep}preset=${encodeURIComponent(this.preset.value)}`;
  }

  /** Draw point layers, later ones on top. */
  draw(layers: Layer[]): void {
    const r = markerRadius(this.columns);
    this.svg.replaceChildren(
      ...layers.flatMap((layer) =>
        layer.points.map(([x, y]) => {
          const circle = document.createElementNS(SVG, "circle");
          circle.setAttribute("cx", String(x));
          circle.setAttribute("cy", String(y));
          circle.setAttribute("r", String(r));
          circle.setAttribute("class", layer.className);
          circle.setAttribute("data-layer", layer.name);
          return circle;
        }),
      ),
    );
  }
}

/** A status line that says what happened (`state`: "ok", "error" or "" for neutral). */
export function say(target: HTMLElement, text: string, state: "ok" | "error" | "" = ""): void {
  target.textContent = text;
  target.dataset["state"] = state;
}
