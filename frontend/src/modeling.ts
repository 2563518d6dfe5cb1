/**
 * Run pages (Vite entry "src/modeling.ts"): every element with `data-run-poll="<run API url>"` is kept up
 * to date without reloading: status badge, overall progress bar, message, per-net rows, error, model link.
 * Polling stops when the run has finished.
 */
import { apiJson } from "./lib/api";
import { archRows, badgeClass, FINISHED, overallFraction, type RunDoc, STATUS_LABEL } from "./modeling/progress";

export const POLL_MS = 1000;

function field(root: Element, name: string): HTMLElement | null {
  return root.querySelector<HTMLElement>(`[data-field="${name}"]`);
}

/** Write one run document into its element. */
export function renderRun(root: Element, doc: RunDoc): void {
  const status = field(root, "status");
  if (status) {
    status.textContent = STATUS_LABEL[doc.status] ?? doc.status;
    status.className = badgeClass(doc.status);
  }
  const overall = field(root, "overall");
  if (overall instanceof HTMLProgressElement) overall.value = overallFraction(doc);
  const message = field(root, "message");
  if (message) message.textContent = doc.progress.message ?? "";
  const error = field(root, "error");
  if (error) error.textContent = doc.error;
  const body = field(root, "archs");
  if (body) {
    body.replaceChildren(
      ...archRows(doc.progress).map((row) => {
        const tr = document.createElement("tr");
        tr.dataset["arch"] = row.arch;
        const bar = document.createElement("progress");
        bar.max = 1;
        bar.value = row.fraction;
        const cells = [row.arch, row.epoch, row.step, row.loss, row.valLoss, row.valMap];
        cells.forEach((text, i) => {
          const td = document.createElement("td");
          td.textContent = text;
          if (i === 1) td.append(" ", bar);
          tr.append(td);
        });
        return tr;
      }),
    );
  }
  const model = field(root, "model");
  if (model && doc.model_version !== null && !model.querySelector("a")) {
    const link = document.createElement("a");
    link.href = `/models/versions/${doc.model_version}/`;
    link.textContent = `model version ${doc.model_version}`;
    model.replaceChildren("Model: ", link);
  }
  if (FINISHED.has(doc.status)) field(root, "cancel")?.closest("form")?.remove();
}

/** Poll one run until it finishes; returns a function that stops polling. */
export function pollRun(root: HTMLElement, fetchDoc = (url: string) => apiJson<RunDoc>(url)): () => void {
  const url = root.dataset["runPoll"];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const tick = async (): Promise<void> => {
    if (!url || stopped) return;
    try {
      const doc = await fetchDoc(url);
      renderRun(root, doc);
      if (FINISHED.has(doc.status)) return;
    } catch (error) {
      const message = field(root, "message");
      if (message) message.textContent = `progress unavailable (${String(error)}); retrying`;
    }
    if (!stopped) timer = setTimeout(() => void tick(), POLL_MS);
  };
  void tick();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}

function start(): void {
  document.querySelectorAll<HTMLElement>("[data-run-poll]").forEach((el) => pollRun(el));
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start, { once: true });
  else start();
}
