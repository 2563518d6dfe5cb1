/** Draws a `roc.ts` plot into an `<svg>`: its shapes, an arrowhead per colour, and a legend list after it. */
import { type PlotSpec, plotShapes, type Shape } from "./roc";

const SVG = "http://www.w3.org/2000/svg";

function node(tag: string, attrs: Record<string, string | number | null>): SVGElement {
  const out = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null) out.setAttribute(key, String(value));
  return out;
}

function markerId(colour: string): string {
  return `rs-arrow-${colour.replace(/[^0-9a-z]/gi, "")}`;
}

function element(shape: Shape): SVGElement {
  switch (shape.kind) {
    case "polyline":
      return node("polyline", { points: shape.points, fill: "none", stroke: shape.stroke, "stroke-width": shape.width, "stroke-dasharray": shape.dash, "data-label": shape.label });
    case "arrow":
      return node("line", { x1: shape.x1, y1: shape.y1, x2: shape.x2, y2: shape.y2, stroke: shape.stroke, "stroke-width": 1.5, "marker-end": `url(#${markerId(shape.stroke)})`, "data-arrow": shape.label });
    case "circle":
      return node("circle", { cx: shape.cx, cy: shape.cy, r: shape.r, stroke: shape.stroke, fill: shape.fill, "stroke-width": 1.5, "data-point": shape.label });
    case "text": {
      const text = node("text", { x: shape.x, y: shape.y, "text-anchor": shape.anchor, "font-size": 11, fill: "#3f3f46" });
      text.textContent = shape.text;
      return text;
    }
  }
}

/** Replace `svg`'s content with the plot of `spec`, and the legend list after it. */
export function renderPlot(svg: SVGSVGElement, spec: PlotSpec, size = 320): void {
  const shapes = plotShapes(spec, size);
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  const defs = node("defs", {});
  for (const colour of new Set(shapes.flatMap((s) => (s.kind === "arrow" ? [s.stroke] : [])))) {
    const marker = node("marker", { id: markerId(colour), viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(node("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }));
    defs.append(marker);
  }
  svg.replaceChildren(defs, ...shapes.map(element));
  const next = svg.nextElementSibling;
  if (next?.classList.contains("rs-legend")) next.remove();
  const legend = document.createElement("ul");
  legend.className = "rs-legend";
  for (const item of spec.legend) {
    const li = document.createElement("li");
    li.textContent = item.label;
    li.style.color = item.colour;
    legend.append(li);
  }
  svg.after(legend);
}
