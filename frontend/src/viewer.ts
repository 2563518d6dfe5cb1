/**
 * Labeling viewer page (Vite entry "src/viewer.ts").
 *
 * Template contract:
 *   <div id="viewer" data-read-url="/api/v1/labeling/reads/12/" data-queue-url="/labeling/"></div>
 * The viewer builds all of its DOM inside #viewer (styles in styles.css, loaded by main.ts).
 */
import { startPage } from "./lib/page";
import { mountViewer, Viewer } from "./viewer/app";

export { mountViewer, Viewer };

startPage("viewer", mountViewer);
