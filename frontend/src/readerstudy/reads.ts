/**
 * The case-read task: scroll through the case's slices (server-rendered, blinded), answer ICH present,
 * subtypes and a confidence, submit. Reading time goes to the server in heartbeats (every 15 s while the
 * participant is active, and at submission): the seconds since the last one, bounded by the server, on the
 * clock of the read shown (each arm has its own).
 *
 * An aided read shows the model panel beside the slice (`modelpanel.ts`). In a sequential study, once the
 * unaided read of a case is submitted, "Show the model's output" opens the case's aided read; the server
 * then locks the unaided answer, which the aided read shows above its own form.
 */
import { Heartbeat } from "../viewer/heartbeat";
import { answerText, nearestOverlay, readBase, readLabel } from "./aided";
import { el, SliceStage, say } from "./dom";
import { type CaseDoc, readPayload, SUBTYPE_NAMES, SUBTYPES } from "./model";
import { ModelPanel } from "./modelpanel";
import { Task, type TaskContext } from "./task";

export class ReadTask extends Task<CaseDoc> {
  readonly doneText = "Every case is read: the localisation task is open on the study page.";
  readonly stage = new SliceStage();
  readonly slider = el("input", { type: "range", min: 0, value: 0, "data-role": "slider", "aria-label": "slice" });
  readonly sliceLabel = el("span", { "data-role": "slice-label" });
  readonly form = el("form", { class: "rs-panel", "data-role": "form" });
  readonly yes = el("input", { type: "radio", name: "ich", value: "yes", "data-role": "ich-yes" });
  readonly no = el("input", { type: "radio", name: "ich", value: "no", "data-role": "ich-no" });
  readonly subtypes = SUBTYPES.map((code) => el("input", { type: "checkbox", value: code, "data-subtype": code }));
  readonly confidence = el("input", { type: "range", min: 0, max: 100, step: 1, value: 50, "data-role": "confidence" });
  readonly confidenceValue = el("output", { "data-role": "confidence-value" }, "50");
  readonly submit = el("button", { type: "submit", class: "btn btn-primary", "data-role": "submit" }, "Submit read");
  readonly model = new ModelPanel(this.stage);
  readonly unaidedAnswer = el("p", { class: "rs-locked", "data-role": "unaided-answer", hidden: true });
  readonly showAided = el("button", { type: "button", class: "btn", "data-role": "show-aided", hidden: true }, "Show the model's output");
  index = 0;
  readonly heartbeat: Heartbeat;
  /** When the time not yet sent began (ms): the case's opening or the last beat. */
  beatFrom = Date.now();

  constructor(ctx: TaskContext) {
    super(ctx);
    this.heartbeat = new Heartbeat({
      isVisible: () => document.visibilityState !== "hidden",
      send: () => this.beat(),
    });
  }

  build(): void {
    const { stage, slider } = this;
    slider.addEventListener("input", () => this.showSlice(Number(slider.value)));
    stage.root.addEventListener("wheel", (event) => {
      event.preventDefault();
      this.showSlice(this.index + Math.sign(event.deltaY));
    });
    this.ctx.root.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement && event.target.type !== "range") return;
      if (event.key === "ArrowUp" || event.key === "ArrowLeft") this.showSlice(this.index - 1);
      if (event.key === "ArrowDown" || event.key === "ArrowRight") this.showSlice(this.index + 1);
    });
    for (const type of ["keydown", "pointerdown", "wheel"]) {
      this.ctx.root.addEventListener(type, () => this.heartbeat.touch());
    }
    this.yes.addEventListener("change", () => this.syncSubtypes());
    this.no.addEventListener("change", () => this.syncSubtypes());
    this.confidence.addEventListener("input", () => {
      this.confidenceValue.textContent = this.confidence.value;
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.send();
    });
    this.showAided.addEventListener("click", () => void this.openAided());
    const label = (input: HTMLInputElement, text: string) => el("label", { class: "check" }, input, ` ${text}`);
    this.form.append(
      this.heading,
      this.unaidedAnswer,
      el("fieldset", {}, el("legend", {}, "Intracranial haemorrhage"), label(this.yes, "present"), label(this.no, "absent")),
      el(
        "fieldset",
        { "data-role": "subtypes" },
        el("legend", {}, "Subtypes present"),
        ...this.subtypes.map((box) => label(box, SUBTYPE_NAMES[box.value] ?? box.value)),
      ),
      el("label", {}, "Confidence in this read (0-100) ", this.confidence, " ", this.confidenceValue),
      el("div", { class: "form-actions" }, this.submit, this.showAided),
      this.message,
      el("div", { class: "rs-nav" }, this.previous, this.next),
    );
    const controls = el("div", { class: "rs-controls" }, slider, this.sliceLabel, stage.preset, this.model.toggleLabel);
    const viewer = el("div", { class: "rs-viewer" }, stage.root, controls, this.model.root);
    this.body.append(el("div", { class: "rs-layout" }, viewer, this.form));
    this.heartbeat.start();
  }

  render(doc: CaseDoc): void {
    this.beatFrom = Date.now();
    const { prefix, suffix } = readLabel(doc);
    this.heading.textContent = `${prefix}${this.position("Case", doc, doc.read !== null)}${suffix}`;
    this.slider.max = String(doc.n_slices - 1);
    const middle = Math.floor(doc.n_slices / 2);
    this.model.show(doc.model ?? null, middle);
    this.showSlice(doc.model ? (nearestOverlay(doc.model, middle) ?? middle) : middle);
    const read = doc.read;
    this.yes.checked = read?.ich === true;
    this.no.checked = read?.ich === false;
    for (const box of this.subtypes) box.checked = read?.subtypes.includes(box.value) ?? false;
    this.confidence.value = String(read?.confidence ?? 50);
    this.confidenceValue.textContent = this.confidence.value;
    for (const input of [this.yes, this.no, this.confidence, this.submit]) input.disabled = !doc.editable;
    this.syncSubtypes();
    const unaided = doc.unaided?.read;
    this.unaidedAnswer.hidden = !unaided;
    this.unaidedAnswer.textContent = unaided ? `Your unaided read (locked): ${answerText(unaided)}` : "";
    this.showAided.hidden = !doc.aided?.open;
    this.explain(doc);
  }

  /** The message under the form: what the reader can do with this read now. */
  explain(doc: CaseDoc): void {
    if (doc.aided?.open && !doc.aided.submitted) {
      say(this.message, doc.aided.opened
        ? "Your unaided answer is locked: you have seen the model's output. Make your aided read there."
        : "Submitted. Now open the model's output and read the case again with it; your unaided answer then locks.", "ok");
    } else if (!doc.editable && doc.aided?.opened) {
      say(this.message, "Your unaided answer is locked: you have seen the model's output.");
    } else if (!doc.editable) {
      say(this.message, "Submitted; this study does not let answers change.");
    }
  }

  /** Open the aided read of the case shown (sequential design). */
  async openAided(): Promise<void> {
    const url = this.doc?.aided?.url;
    if (!url) return;
    try {
      await this.beat()?.catch(() => undefined); // the time so far belongs to the unaided read
      this.doc = await this.api<CaseDoc>(url);
    } catch (error) {
      say(this.message, error instanceof Error ? error.message : String(error), "error");
      return;
    }
    say(this.message, "");
    this.render(this.doc);
  }

  showSlice(index: number): void {
    const doc = this.doc;
    if (!doc) return;
    this.index = Math.max(0, Math.min(doc.n_slices - 1, index));
    const slice = doc.slices[this.index];
    if (slice) this.stage.show(slice.image_url, doc.columns, doc.rows);
    this.slider.value = String(this.index);
    this.sliceLabel.textContent = `slice ${this.index + 1} / ${doc.n_slices}`;
    this.model.slice(this.index);
    for (const near of [this.index - 1, this.index + 1]) {
      const url = doc.slices[near]?.image_url;
      if (url) new Image().src = `${url}?preset=${this.stage.preset.value}`;
    }
  }

  syncSubtypes(): void {
    const allowed = this.yes.checked && Boolean(this.doc?.editable);
    for (const box of this.subtypes) {
      box.disabled = !allowed;
      if (this.no.checked) box.checked = false;
    }
  }

  async send(): Promise<void> {
    const doc = this.doc;
    if (!doc) return;
    const ich = this.yes.checked ? true : this.no.checked ? false : null;
    const chosen = this.subtypes.filter((b) => b.checked).map((b) => b.value);
    const check = readPayload(ich, chosen, Number(this.confidence.value));
    if (!check.ok) {
      say(this.message, check.message, "error");
      return;
    }
    this.submit.disabled = true;
    let updated: CaseDoc;
    try {
      await this.beat()?.catch(() => undefined); // the time since the last beat belongs to this read
      updated = await this.api<CaseDoc>(`${readBase(doc, this.ctx.apiUrl)}/read`, { method: "PUT", json: check.body });
    } catch (error) {
      say(this.message, error instanceof Error ? error.message : String(error), "error");
      this.submit.disabled = false;
      return;
    }
    if (updated?.aided?.open && !updated.aided.submitted) {
      this.doc = updated; // sequential: the case's aided read comes next
      this.render(updated);
      return;
    }
    await this.answered();
  }

  override finished(): void {
    this.heartbeat.stop();
    super.finished();
  }

  /** Send the reading time since the last beat (the server bounds it by its own clock). */
  beat(): Promise<unknown> | undefined {
    const doc = this.doc;
    const now = Date.now();
    const seconds = Math.round((now - this.beatFrom) / 100) / 10;
    this.beatFrom = now;
    if (!doc?.editable) return undefined;
    return this.api(`${readBase(doc, this.ctx.apiUrl)}/heartbeat`, { method: "POST", json: { seconds } });
  }
}
