/**
 * The prediction-basis questionnaire: the slice with its attention overlay, and four candidate sets of
 * atlas exemplars (image patch and activation map) under the letters a-d; the participant picks the set
 * most similar in morphology. The server opens it only after the localisation task (409 before).
 */
import { el, SliceStage, say } from "./dom";
import type { QuestionDoc } from "./model";
import { Task } from "./task";

export class QuestionnaireTask extends Task<QuestionDoc> {
  readonly doneText = "Every slice is answered. Thank you.";
  readonly stage = new SliceStage();
  readonly toggle = el("input", { type: "checkbox", checked: true, "data-role": "overlay-toggle" });
  readonly opacity = el("input", { type: "range", min: 0, max: 100, value: 50, "data-role": "opacity" });
  readonly options = el("div", { class: "rs-options", "data-role": "options", role: "radiogroup" });
  readonly submit = el("button", { type: "button", class: "btn btn-primary", "data-role": "submit" }, "Submit choice");

  build(): void {
    this.toggle.addEventListener("change", () => this.applyOverlay());
    this.opacity.addEventListener("input", () => this.applyOverlay());
    this.submit.addEventListener("click", () => void this.send());
    const controls = el(
      "div",
      { class: "rs-controls" },
      this.stage.preset,
      el("label", { class: "check" }, this.toggle, " Attention map"),
      el("label", {}, "Opacity ", this.opacity),
    );
    const side = el(
      "div",
      { class: "rs-panel" },
      this.heading,
      el("p", { class: "muted" }, "Which set of exemplars is most similar in morphology to the attention on this slice?"),
      this.options,
      el("div", { class: "form-actions" }, this.submit),
      this.message,
      el("div", { class: "rs-nav" }, this.previous, this.next),
    );
    this.body.append(el("div", { class: "rs-layout" }, el("div", { class: "rs-viewer" }, this.stage.root, controls), side));
  }

  render(doc: QuestionDoc): void {
    this.heading.textContent = this.position("Slice", doc, doc.choice !== null);
    this.stage.show(doc.image_url, doc.columns, doc.rows);
    this.stage.overlay.src = doc.overlay_url;
    this.stage.overlay.hidden = false;
    this.applyOverlay();
    this.options.replaceChildren(
      ...doc.options.map((option) => {
        const radio = el("input", {
          type: "radio",
          name: "choice",
          value: option.letter,
          checked: doc.choice === option.letter,
          disabled: !doc.editable,
          "data-letter": option.letter,
        });
        return el(
          "label",
          { class: "rs-option" },
          el("span", { class: "rs-letter" }, radio, ` (${option.letter})`),
          el("img", { src: option.patch_url, alt: `set ${option.letter}: image patch`, width: 96 }),
          el("img", { src: option.map_url, alt: `set ${option.letter}: activation map`, width: 96 }),
        );
      }),
    );
    this.submit.disabled = !doc.editable;
    if (!doc.editable) say(this.message, "Submitted; this answer can no longer change.");
  }

  applyOverlay(): void {
    const opacity = Number(this.opacity.value) / 100;
    this.stage.overlay.style.opacity = this.toggle.checked ? String(opacity) : "0";
  }

  async send(): Promise<void> {
    const doc = this.doc;
    const chosen = this.options.querySelector<HTMLInputElement>("input[name=choice]:checked");
    if (!doc) return;
    if (!chosen) {
      say(this.message, "Choose one of the sets a-d.", "error");
      return;
    }
    this.submit.disabled = true;
    try {
      await this.api(`${this.ctx.apiUrl}/${doc.id}`, { method: "PUT", json: { choice: chosen.value } });
    } catch (error) {
      say(this.message, error instanceof Error ? error.message : String(error), "error");
      this.submit.disabled = false;
      return;
    }
    await this.answered();
  }
}
