/**
 * The viewer's page outside the canvas (slice strip, toolbar readouts, side
 * panel, banner): each method rewrites one part from the session. view.ts
 * decides which parts a change touches.
 */
import { PRESETS } from "../lib/windowing";
import { subtypeColor } from "./render";
import type { ViewerSession } from "./session";
import type { SliceCache } from "./slices";
import { inRange, summarize } from "./state";
import { chips, formatZ, h, renderPointsList, statusLabel, updateRow, type ViewerDom } from "./ui";

export class ViewerPanel {
  private readonly doc: Document;

  constructor(
    private readonly s: ViewerSession,
    private readonly dom: ViewerDom,
    private readonly slices: SliceCache,
  ) {
    this.doc = dom.root.ownerDocument;
  }

  updateArmed(): void {
    const armed = this.s.armed;
    for (const [c, b] of this.dom.armedButtons) b.setAttribute("aria-pressed", String((armed ?? "") === c));
    this.dom.armedInfo.replaceChildren();
    const swatch = h(this.doc, "span", { class: "vw-dot", "aria-hidden": "true" });
    swatch.style.setProperty("--chip", subtypeColor(armed, this.s.subtypes));
    this.dom.armedInfo.append(swatch, `Point: ${armed ?? "no subtype"}`);
  }

  updateRow(i: number): void {
    const row = this.dom.rows[i];
    if (!row) return;
    const s = this.s;
    updateRow(
      row,
      {
        codes: s.labels.get(i),
        points: s.pointsOn(i).length,
        current: i === s.current,
        inRange: inRange(s.range, i),
        loaded: this.slices.has(i),
        ...(s.refLabels.length ? { refs: s.refLabels.map((m) => m.get(i)) } : {}),
      },
      s.subtypes,
    );
  }

  updateRows(): void {
    for (let i = 0; i < this.s.n; i++) this.updateRow(i);
  }

  updateProgress(): void {
    const s = summarize(this.s.labels, this.s.n, this.s.subtypes);
    this.dom.progressText.textContent = `Labeled ${s.labeled} / ${s.total} slices${s.positive ? ` · haemorrhage on ${s.positive}` : ""}`;
    this.dom.progressBar.max = Math.max(1, s.total);
    this.dom.progressBar.value = s.labeled;
    this.dom.root.dataset["labeled"] = `${s.labeled}/${s.total}`;
  }

  updateSliceInfo(): void {
    const current = this.s.current;
    this.dom.sliceInfo.textContent = `${current + 1} / ${this.s.n}`;
    this.dom.zInfo.textContent = formatZ(this.s.read.slices[current]?.z);
    this.dom.root.dataset["slice"] = String(current);
  }

  updateWindowInfo(): void {
    const { preset, width, level } = this.s;
    const name = preset ? `${PRESETS[preset].label} · ` : "";
    this.dom.wlInfo.textContent = `${name}W ${width} L ${level}`;
    for (const [p, b] of this.dom.presetButtons) b.setAttribute("aria-pressed", String(p === preset));
  }

  updateZoomInfo(): void {
    this.dom.zoomInfo.textContent = `Zoom ${Math.round(this.s.transform.scale * 100)}%`;
  }

  updateLabelPanel(): void {
    const { labels, current, subtypes } = this.s;
    const targets = this.s.targets;
    const span = `${targets[0]! + 1}–${targets[targets.length - 1]! + 1}`;
    this.dom.labelsTitle.textContent = targets.length > 1 ? `Slices ${span} labels` : `Slice ${current + 1} labels`;
    for (const [code, b] of this.dom.labelButtons) {
      const all = targets.every((i) => labels.get(i)?.includes(code));
      b.setAttribute("aria-pressed", String(all));
    }
    this.dom.noneButton.setAttribute("aria-pressed", String(targets.every((i) => labels.get(i)?.length === 0)));
    this.dom.currentLabels.replaceChildren(chips(this.doc, labels.get(current), subtypes));
    const r = this.dom.rangeInfo;
    if (this.s.range) {
      r.hidden = false;
      r.replaceChildren(
        `Range ${span} (${targets.length} slices): label keys apply to all. `,
        h(this.doc, "button", { type: "button", class: "vw-btn vw-btn-sm", "data-action": "clear-range", title: "Clear the range (Esc)" }, "Clear"),
      );
    } else {
      r.hidden = true;
      r.replaceChildren();
    }
  }

  updatePointsPanel(): void {
    const s = this.s;
    const here = s.pointsOn(s.current);
    renderPointsList(this.dom.pointsList, here, { subtypes: s.subtypes, editable: s.canEdit, selectedKey: s.selectedKey });
    this.dom.pointsTotal.textContent = `${here.length} on this slice · ${s.points.length} in total`;
  }

  updateReference(): void {
    const body = this.dom.referenceBody;
    if (!body) return;
    const { doc, s } = this;
    const table = h(doc, "table", { class: "vw-ref-table" });
    (s.read.adjudication?.reads ?? []).forEach((r, ri) => {
      const pts = r.points.filter((p) => p.slice_index === s.current).length;
      table.append(
        h(
          doc,
          "tr",
          {},
          h(doc, "th", { scope: "row" }, r.label),
          h(doc, "td", {}, chips(doc, s.refLabels[ri]?.get(s.current), s.subtypes)),
          h(doc, "td", { class: "vw-muted" }, pts ? `◎${pts}` : ""),
        ),
      );
    });
    body.replaceChildren(table);
  }

  updateExclusion(): void {
    const { doc, s } = this;
    const box = this.dom.exclusion;
    box.replaceChildren();
    if (s.excluded) {
      const label = s.read.exclusion_reasons.find((r) => r.code === s.exclusionReason)?.label ?? s.exclusionReason;
      box.append(
        h(doc, "p", { class: "vw-excluded" }, `Excluded: ${label}${s.exclusionNote ? ` — ${s.exclusionNote}` : ""}`),
        h(doc, "button", { type: "button", class: "vw-btn", "data-action": "include", disabled: !s.canEdit, title: "Undo the exclusion" }, "Undo exclusion"),
      );
      this.dom.excludeForm.hidden = true;
    } else {
      box.append(
        h(doc, "button", { type: "button", class: "vw-btn", "data-action": "exclude-open", disabled: !s.canEdit, title: "Exclude this case from labeling" }, "Exclude case…"),
      );
    }
    this.updateBanner();
  }

  updateEditable(): void {
    const can = this.s.canEdit;
    const dom = this.dom;
    dom.root.dataset["editable"] = String(can);
    for (const b of dom.labelButtons.values()) b.disabled = !can;
    dom.noneButton.disabled = !can;
    dom.copyButton.disabled = !can;
    for (const b of dom.armedButtons.values()) b.disabled = !can;
    dom.submitButton.disabled = !can;
    dom.submitButton.hidden = !this.s.editableRead;
    dom.prevCase.disabled = !this.s.read.queue.previous_url;
    dom.nextCase.disabled = !this.s.read.queue.next_url;
    this.updateExclusion();
    this.updatePointsPanel();
  }

  updateCaseInfo(): void {
    this.dom.readBadge.textContent = statusLabel({ status: this.s.status, kind: this.s.read.kind });
    this.dom.readBadge.dataset["status"] = this.s.status;
  }

  private updateBanner(): void {
    const b = this.dom.banner;
    let text = "";
    if (this.s.status === "submitted" || !this.s.read.editable) text = "Submitted — read-only";
    else if (this.s.excluded) text = "Case excluded";
    b.textContent = text;
    b.hidden = !text;
  }
}
