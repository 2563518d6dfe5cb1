/**
 * Global entry (Vite entry "src/main.ts"), loaded on every page: the site
 * stylesheet and a few progressive enhancements.
 */
import "./styles.css";

/** `<form data-confirm="Really delete?">` asks before submitting. */
export function installConfirmForms(doc: Document = document): void {
  doc.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) return;
    const question = form.dataset["confirm"] || "Are you sure?";
    if (!window.confirm(question)) event.preventDefault();
  });
}

/** `<button data-dismiss>` inside `.messages > *` removes that message. */
export function installDismissibleMessages(doc: Document = document): void {
  doc.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("[data-dismiss]") : null;
    target?.closest(".messages > *")?.remove();
  });
}

if (typeof document !== "undefined") {
  installConfirmForms();
  installDismissibleMessages();
}
