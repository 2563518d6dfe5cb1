/**
 * The point tasks. Localisation: click the centres of haemorrhagic lesions on the slice (click a point
 * again to remove it), blinded to the attention map, and submit. Consensus: the two participants' points
 * and the merged proposal; edit the merge and save it as the slice's reference points.
 */
import { el, type Layer, SliceStage, say } from "./dom";
import { type ConsensusDoc, type ItemDoc, type LocaliseDoc, markerRadius, type Point, togglePoint } from "./model";
import { Task } from "./task";

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

abstract class PointTask<D extends ItemDoc> extends Task<D> {
  points: Point[] = [];
  editable = true;
  readonly stage = new SliceStage((p) => this.click(p));
  readonly count = el("span", { "data-role": "count" });
  readonly clear = el("button", { type: "button", class: "btn btn-sm", "data-role": "clear" }, "Clear");
  readonly save = el("button", { type: "button", class: "btn btn-primary", "data-role": "save" });
  readonly side = el("div", { class: "rs-panel" });

  abstract readonly saveText: string;
  /** Extra layers drawn under the edited points. */
  abstract backdrop(doc: D): Layer[];
  abstract send(doc: D): Promise<void>;

  build(): void {
    this.save.textContent = this.saveText;
    this.clear.addEventListener("click", () => this.edit([]));
    this.save.addEventListener("click", () => {
      const doc = this.doc;
      if (!doc) return;
      this.send(doc).catch((error: unknown) => say(this.message, error instanceof Error ? error.message : String(error), "error"));
    });
    this.side.prepend(this.heading);
    this.side.append(
      el("p", {}, this.count),
      el("div", { class: "form-actions" }, this.clear, this.save),
      this.message,
      el("div", { class: "rs-nav" }, this.previous, this.next),
    );
    const controls = el("div", { class: "rs-controls" }, this.stage.preset);
    this.body.append(el("div", { class: "rs-layout" }, el("div", { class: "rs-viewer" }, this.stage.root, controls), this.side));
  }

  show(doc: D, points: Point[], editable: boolean): void {
    this.editable = editable;
    this.stage.show(doc.image_url, doc.columns, doc.rows);
    for (const button of [this.clear, this.save]) button.disabled = !editable;
    this.edit(points);
  }

  click(p: Point): void {
    if (!this.editable || !this.doc) return;
    this.edit(togglePoint(this.points, p, 2 * markerRadius(this.doc.columns)));
  }

  edit(points: Point[]): void {
    this.points = points;
    this.count.textContent = plural(points.length, "point");
    if (this.doc) this.stage.draw([...this.backdrop(this.doc), { name: "edit", points, className: "rs-point-edit" }]);
  }
}

export class LocaliseTask extends PointTask<LocaliseDoc> {
  readonly doneText = "Every slice is marked: the prediction-basis questionnaire is open on the study page.";
  readonly saveText = "Submit points";

  override build(): void {
    this.side.append(
      el(
        "p",
        { class: "muted" },
        "Click the centre of each haemorrhagic lesion; click a point again to remove it. Submit with no point if you see no bleeding.",
      ),
    );
    super.build();
  }

  render(doc: LocaliseDoc): void {
    this.heading.textContent = this.position("Slice", doc, doc.submitted);
    this.show(doc, doc.points, doc.editable);
    if (!doc.editable) say(this.message, "Submitted; these points can no longer change.");
  }

  backdrop(): [] {
    return [];
  }

  async send(doc: LocaliseDoc): Promise<void> {
    this.save.disabled = true;
    try {
      await this.api(`${this.ctx.apiUrl}/${doc.id}`, { method: "PUT", json: { points: this.points } });
    } finally {
      this.save.disabled = false;
    }
    await this.answered();
  }
}

export class ConsensusTask extends PointTask<ConsensusDoc> {
  readonly doneText = "Every slice has reference points.";
  readonly saveText = "Save reference points";
  readonly legend = el("ul", { class: "rs-legend", "data-role": "legend" });
  readonly useProposal = el("button", { type: "button", class: "btn btn-sm", "data-role": "proposal" }, "Start from the merge");

  override build(): void {
    this.useProposal.addEventListener("click", () => {
      if (this.doc) this.edit(this.doc.proposal);
    });
    this.side.append(this.legend, el("p", {}, this.useProposal));
    super.build();
  }

  render(doc: ConsensusDoc): void {
    this.heading.textContent = this.position("Slice", doc, doc.reference !== null);
    this.legend.replaceChildren(
      el("li", { class: "rs-point-first" }, `${doc.first.participant}: ${plural(doc.first.points.length, "point")}`),
      el("li", { class: "rs-point-second" }, `${doc.second.participant}: ${plural(doc.second.points.length, "point")}`),
      el("li", { class: "rs-point-edit" }, `reference (points within ${doc.radius} px merged)`),
    );
    this.show(doc, doc.reference ?? doc.proposal, true);
    say(this.message, doc.reference ? "Saved reference points shown." : "The merge is proposed; edit it and save.");
  }

  backdrop(doc: ConsensusDoc): Layer[] {
    return [
      { name: "first", points: doc.first.points, className: "rs-point-first" },
      { name: "second", points: doc.second.points, className: "rs-point-second" },
    ];
  }

  async send(doc: ConsensusDoc): Promise<void> {
    await this.api(`${this.ctx.apiUrl}/${doc.id}`, { method: "PUT", json: { points: this.points } });
    await this.answered("has_reference");
  }
}
