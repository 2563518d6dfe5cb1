/**
 * Page start-up shared by the entries that mount one widget on `#id`
 * (dashboards, review, viewer): once the DOM is parsed, mount on the element
 * unless it is missing or already mounted (`data-ready`). Outside a browser
 * (no `document`, e.g. tests in the node environment) nothing happens.
 */

/** Run `fn` once the DOM is parsed: now when it already is, else on DOMContentLoaded. */
export function onDomReady(fn: () => void, doc: Document | undefined = globalThis.document): void {
  if (!doc) return;
  if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", fn, { once: true });
  else fn();
}

/** Mount on `#id` when the DOM is ready (once: a root with `data-ready` is left alone). */
export function startPage(id: string, mount: (root: HTMLElement) => unknown, doc: Document | undefined = globalThis.document): void {
  onDomReady(() => {
    const root = doc?.getElementById(id);
    if (root && !root.hasAttribute("data-ready")) void mount(root);
  }, doc);
}
