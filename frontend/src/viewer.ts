/**
 * Labeling viewer page (Vite entry "src/viewer.ts").
 *
 * Template contract:
 *   <div id="viewer" data-read-url="/api/v1/labeling/reads/12/" data-queue-url="/labeling/"></div>
 * The viewer builds all of its DOM inside #viewer (styles in styles.css, loaded by main.ts).
 */
import { mountViewer, Viewer } from "./viewer/app";

export { mountViewer, Viewer };

function start(): void {
  const root = document.getElementById("viewer");
  if (root && !root.hasAttribute("data-ready")) void mountViewer(root);
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
}
