/**
 * DOM assembly for the viewer: builds the toolbar, slice strip, stage
 * (canvas + overlays), side panel and dialogs inside #viewer, and small
 * update helpers. No viewer state lives here; app.ts calls these.
 *
 * Buttons carry `data-action` (event delegation in app.ts).
 */
import { PRESETS, type PresetName } from "../lib/windowing";
import { keymapHelp, VIEWER_PRESETS } from "./keymap";
import { NO_SUBTYPE_COLOR, subtypeColor } from "./render";
import type { Codes } from "./state";
import type { ClientPoint, ReadData } from "./types";

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Tiny element factory: `h(doc, "button", {class: "vw-btn", "data-action": "fit"}, "Fit")`. */
export function h<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export interface ViewerDom {
  root: HTMLElement;
  toolbar: HTMLElement;
  caseInfo: HTMLElement;
  readBadge: HTMLElement;
  presetButtons: Map<PresetName, HTMLButtonElement>;
  save: HTMLElement;
  strip: HTMLElement;
  stripList: HTMLOListElement;
  rows: HTMLLIElement[];
  progressText: HTMLElement;
  progressBar: HTMLProgressElement;
  stage: HTMLElement;
  canvas: HTMLCanvasElement;
  sliceInfo: HTMLElement;
  zInfo: HTMLElement;
  wlInfo: HTMLElement;
  zoomInfo: HTMLElement;
  currentLabels: HTMLElement;
  armedInfo: HTMLElement;
  banner: HTMLElement;
  hint: HTMLElement;
  labelsTitle: HTMLElement;
  labelButtons: Map<string, HTMLButtonElement>;
  noneButton: HTMLButtonElement;
  copyButton: HTMLButtonElement;
  rangeInfo: HTMLElement;
  armedButtons: Map<string, HTMLButtonElement>; // "" = no subtype
  pointsList: HTMLUListElement;
  pointsTotal: HTMLElement;
  reference: HTMLElement | null;
  referenceBody: HTMLElement | null;
  exclusion: HTMLElement;
  excludeForm: HTMLFormElement;
  excludeReason: HTMLSelectElement;
  excludeNote: HTMLTextAreaElement;
  submitButton: HTMLButtonElement;
  prevCase: HTMLButtonElement;
  nextCase: HTMLButtonElement;
  conflict: HTMLElement;
  conflictText: HTMLElement;
  keymap: HTMLElement;
}

function kbd(doc: Document, text: string): HTMLElement {
  return h(doc, "kbd", {}, text);
}

function button(doc: Document, attrs: Attrs, ...children: Child[]): HTMLButtonElement {
  return h(doc, "button", { type: "button", class: "vw-btn", ...attrs }, ...children);
}

/** Coloured subtype chips; [] -> "none" chip; undefined -> "unlabeled" mark. */
export function chips(doc: Document, codes: Codes | undefined, subtypes: readonly string[], compact = false): HTMLElement {
  const box = h(doc, "span", { class: "vw-chips" });
  if (codes === undefined) {
    box.append(h(doc, "span", { class: "vw-unlabeled", title: "Not labeled yet" }, compact ? "•" : "unlabeled"));
  } else if (codes.length === 0) {
    box.append(h(doc, "span", { class: "vw-chip vw-chip-none", title: "No haemorrhage" }, compact ? "–" : "none"));
  } else {
    for (const c of codes) {
      const chip = h(doc, "span", { class: "vw-chip", "data-code": c, title: c }, c);
      chip.style.setProperty("--chip", subtypeColor(c, subtypes));
      box.append(chip);
    }
  }
  return box;
}

export function formatZ(z: number | null | undefined): string {
  return typeof z === "number" && Number.isFinite(z) ? `z = ${z.toFixed(1)} mm` : "z = —";
}

export function statusLabel(read: Pick<ReadData, "status" | "kind">): string {
  const s = read.status === "submitted" ? "Submitted" : read.status === "in_progress" ? "In progress" : "Not started";
  return read.kind === "adjudication" ? `Adjudication · ${s}` : s;
}

export function buildViewerDom(root: HTMLElement, read: ReadData): ViewerDom {
  const doc = root.ownerDocument;
  root.classList.add("vw");
  root.replaceChildren();

  // ---- toolbar
  const caseInfo = h(doc, "div", { class: "vw-case" });
  const readBadge = h(doc, "span", { class: "vw-badge", "data-read-status": "" });
  caseInfo.append(
    h(doc, "span", { class: "vw-project", title: "Project" }, read.project?.name ?? ""),
    h(doc, "span", { class: "vw-case-id" }, `Case ${read.case.id}`),
    h(doc, "span", { class: "vw-queue", title: "Position in your queue" }, `${read.queue.position} / ${read.queue.total}`),
    readBadge,
  );
  const presetButtons = new Map<PresetName, HTMLButtonElement>();
  const presets = h(doc, "div", { class: "vw-group", role: "group", "aria-label": "Window presets" });
  VIEWER_PRESETS.forEach((name, i) => {
    const p = PRESETS[name];
    const b = button(
      doc,
      {
        "data-action": "preset",
        "data-preset": name,
        "aria-pressed": "false",
        title: `${p.label} window, W ${p.width} / L ${p.level} (F${i + 1} or W then ${i + 1})`,
      },
      p.label,
      kbd(doc, `F${i + 1}`),
    );
    presetButtons.set(name, b);
    presets.append(b);
  });
  const zoom = h(
    doc,
    "div",
    { class: "vw-group", role: "group", "aria-label": "Zoom" },
    button(doc, { "data-action": "zoom-out", title: "Zoom out (-)", "aria-label": "Zoom out" }, "−"),
    button(doc, { "data-action": "zoom-in", title: "Zoom in (+)", "aria-label": "Zoom in" }, "+"),
    button(doc, { "data-action": "fit", title: "Fit the image (F)" }, "Fit"),
  );
  const prevCase = button(doc, { "data-action": "prev-case", title: "Previous case (P)" }, "‹ Prev");
  const nextCase = button(doc, { "data-action": "next-case", title: "Next case (N)" }, "Next ›");
  const nav = h(doc, "div", { class: "vw-group", role: "group", "aria-label": "Case navigation" }, prevCase, nextCase);
  const save = h(doc, "div", { class: "vw-save", role: "status", "aria-live": "polite", "data-state": "idle" });
  const help = button(doc, { "data-action": "help", title: "Keyboard shortcuts (?)", "aria-label": "Keyboard shortcuts" }, "?");
  const toolbar = h(doc, "header", { class: "vw-toolbar" }, caseInfo, presets, zoom, nav, save, help);

  // ---- slice strip
  const progressText = h(doc, "span", { class: "vw-progress-text" });
  const progressBar = h(doc, "progress", { class: "vw-progress", max: Math.max(1, read.slices.length), value: 0 });
  const stripList = h(doc, "ol", { class: "vw-strip-list" });
  const rows: HTMLLIElement[] = [];
  const refs = read.adjudication?.reads ?? [];
  for (const s of read.slices) {
    const btn = h(
      doc,
      "button",
      {
        type: "button",
        class: "vw-row-btn",
        "data-action": "goto",
        "data-slice": s.index,
        title: `Slice ${s.index + 1}, ${formatZ(s.z)} (Shift+click: select a range)`,
      },
      h(doc, "span", { class: "vw-row-num" }, String(s.index + 1)),
      h(doc, "span", { class: "vw-row-labels" }),
      h(doc, "span", { class: "vw-row-points" }),
    );
    const li = h(doc, "li", { class: "vw-row", "data-slice": s.index }, btn);
    refs.forEach((_, r) => li.append(h(doc, "span", { class: "vw-row-ref", "data-ref": r })));
    rows.push(li);
    stripList.append(li);
  }
  const strip = h(
    doc,
    "nav",
    { class: "vw-strip", "aria-label": "Slices" },
    h(
      doc,
      "div",
      { class: "vw-strip-head" },
      progressText,
      progressBar,
      refs.length
        ? h(doc, "div", { class: "vw-strip-refs" }, "You", ...refs.map((r) => h(doc, "span", {}, r.label)))
        : null,
    ),
    stripList,
  );

  // ---- stage
  const canvas = h(doc, "canvas", { class: "vw-canvas", role: "img", "aria-label": "CT slice", tabindex: 0 });
  const sliceInfo = h(doc, "div", { class: "vw-slice-pos", "data-slice-info": "" });
  const zInfo = h(doc, "div", { "data-z": "" });
  const wlInfo = h(doc, "div", { "data-wl": "" });
  const zoomInfo = h(doc, "div", { "data-zoom": "" });
  const currentLabels = h(doc, "div", { "data-current-labels": "" });
  const armedInfo = h(doc, "div", { "data-armed-info": "" });
  const banner = h(doc, "div", { class: "vw-banner", "data-banner": "", hidden: true });
  const hint = h(doc, "div", { class: "vw-hint", "aria-live": "polite", "data-hint": "" });
  const stage = h(
    doc,
    "main",
    { class: "vw-stage" },
    canvas,
    h(doc, "div", { class: "vw-overlay vw-tl" }, sliceInfo, zInfo),
    h(doc, "div", { class: "vw-overlay vw-tr" }, wlInfo, zoomInfo),
    h(doc, "div", { class: "vw-overlay vw-bl" }, currentLabels),
    h(doc, "div", { class: "vw-overlay vw-br" }, armedInfo),
    banner,
    hint,
  );

  // ---- panel: labels
  const labelsTitle = h(doc, "h2", { id: "vw-labels-title" }, "Slice labels");
  const labelButtons = new Map<string, HTMLButtonElement>();
  const labelGroup = h(doc, "div", { class: "vw-labels", role: "group", "aria-labelledby": "vw-labels-title" });
  read.subtypes.forEach((code, i) => {
    const b = button(
      doc,
      {
        class: "vw-btn vw-label-btn",
        "data-action": "label",
        "data-code": code,
        "aria-pressed": "false",
        title: i < 9 ? `Toggle ${code} (${i + 1})` : `Toggle ${code}`,
      },
      i < 9 ? kbd(doc, String(i + 1)) : null,
      code,
    );
    b.style.setProperty("--chip", subtypeColor(code, read.subtypes));
    labelButtons.set(code, b);
    labelGroup.append(b);
  });
  const noneButton = button(
    doc,
    { class: "vw-btn vw-label-btn vw-label-none", "data-action": "none", "aria-pressed": "false", title: "No haemorrhage on this slice (0)" },
    kbd(doc, "0"),
    "None",
  );
  const copyButton = button(doc, { "data-action": "copy", title: "Copy the previous slice's labels (C)" }, kbd(doc, "C"), "Copy previous");
  labelGroup.append(noneButton, copyButton);
  const rangeInfo = h(doc, "p", { class: "vw-range", "data-range": "", hidden: true });

  // ---- panel: points
  const armedButtons = new Map<string, HTMLButtonElement>();
  const armed = h(doc, "div", { class: "vw-armed", role: "group", "aria-label": "Subtype of new points" });
  for (const code of ["", ...read.subtypes]) {
    const b = button(
      doc,
      {
        class: "vw-btn vw-btn-sm vw-arm-btn",
        "data-action": "arm",
        "data-code": code,
        "aria-pressed": "false",
        title: code ? `New points get subtype ${code} (A cycles)` : "New points without subtype (A cycles)",
      },
      code || "No subtype",
    );
    b.style.setProperty("--chip", code ? subtypeColor(code, read.subtypes) : NO_SUBTYPE_COLOR);
    armedButtons.set(code, b);
    armed.append(b);
  }
  const pointsList = h(doc, "ul", { class: "vw-points", "data-points": "" });
  const pointsTotal = h(doc, "p", { class: "vw-muted", "data-points-total": "" });

  // ---- panel: reference reads (adjudication)
  let reference: HTMLElement | null = null;
  let referenceBody: HTMLElement | null = null;
  if (refs.length) {
    referenceBody = h(doc, "div", { class: "vw-ref-body" });
    reference = h(
      doc,
      "section",
      { class: "vw-section", "data-reference": "" },
      h(doc, "h2", {}, "Reference reads (read-only)"),
      referenceBody,
      h(
        doc,
        "label",
        { class: "vw-check" },
        h(doc, "input", { type: "checkbox", "data-action": "toggle-ref-points", checked: true }),
        " Show their points",
      ),
    );
  }

  // ---- panel: case (exclusion, submit)
  const excludeReason = h(doc, "select", { name: "reason", required: true });
  excludeReason.append(h(doc, "option", { value: "" }, "Choose a reason…"));
  for (const r of read.exclusion_reasons ?? []) excludeReason.append(h(doc, "option", { value: r.code }, r.label));
  const excludeNote = h(doc, "textarea", { name: "note", rows: 2, placeholder: "Optional note" });
  const excludeForm = h(
    doc,
    "form",
    { class: "vw-exclude-form", hidden: true, "data-exclude-form": "" },
    h(doc, "label", {}, "Reason", excludeReason),
    h(doc, "label", {}, "Note", excludeNote),
    h(
      doc,
      "div",
      { class: "vw-row-actions" },
      h(doc, "button", { type: "submit", class: "vw-btn vw-btn-danger" }, "Exclude case"),
      button(doc, { "data-action": "exclude-cancel" }, "Cancel"),
    ),
  );
  const exclusion = h(doc, "div", { class: "vw-exclusion", "data-exclusion": "" });
  const submitButton = button(
    doc,
    { class: "vw-btn vw-btn-primary vw-submit", "data-action": "submit", title: "Submit this read and go to the next case (Ctrl+Enter)" },
    "Submit",
    kbd(doc, "Ctrl+Enter"),
  );

  const panel = h(
    doc,
    "aside",
    { class: "vw-panel" },
    h(doc, "section", { class: "vw-section" }, labelsTitle, labelGroup, rangeInfo),
    h(doc, "section", { class: "vw-section" }, h(doc, "h2", {}, "Bleeding points"), armed, pointsList, pointsTotal),
    reference,
    h(doc, "section", { class: "vw-section" }, h(doc, "h2", {}, "Case"), exclusion, excludeForm, submitButton),
  );

  // ---- dialogs
  const conflictText = h(doc, "p", {}, "This read was changed in another tab or window. Reload to see the latest version.");
  const conflict = h(
    doc,
    "div",
    { class: "vw-modal", "data-conflict": "", hidden: true },
    h(
      doc,
      "div",
      { class: "vw-dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "vw-conflict-title" },
      h(doc, "h2", { id: "vw-conflict-title" }, "Changed elsewhere"),
      conflictText,
      h(doc, "button", { type: "button", class: "vw-btn vw-btn-primary", "data-action": "reload" }, "Reload"),
    ),
  );
  const keymap = h(
    doc,
    "div",
    { class: "vw-modal", "data-keymap": "", hidden: true },
    h(
      doc,
      "div",
      { class: "vw-dialog vw-keymap", role: "dialog", "aria-modal": "true", "aria-labelledby": "vw-keymap-title" },
      h(
        doc,
        "div",
        { class: "vw-dialog-head" },
        h(doc, "h2", { id: "vw-keymap-title" }, "Keyboard and mouse"),
        button(doc, { "data-action": "help-close", title: "Close (Esc)" }, "Close"),
      ),
      renderKeymap(doc, read.subtypes),
    ),
  );

  root.append(toolbar, h(doc, "div", { class: "vw-body" }, strip, stage, panel), conflict, keymap);

  return {
    root,
    toolbar,
    caseInfo,
    readBadge,
    presetButtons,
    save,
    strip,
    stripList,
    rows,
    progressText,
    progressBar,
    stage,
    canvas,
    sliceInfo,
    zInfo,
    wlInfo,
    zoomInfo,
    currentLabels,
    armedInfo,
    banner,
    hint,
    labelsTitle,
    labelButtons,
    noneButton,
    copyButton,
    rangeInfo,
    armedButtons,
    pointsList,
    pointsTotal,
    reference,
    referenceBody,
    exclusion,
    excludeForm,
    excludeReason,
    excludeNote,
    submitButton,
    prevCase,
    nextCase,
    conflict,
    conflictText,
    keymap,
  };
}

export function renderKeymap(doc: Document, subtypes: readonly string[]): HTMLElement {
  const box = h(doc, "div", { class: "vw-keymap-body" });
  for (const section of keymapHelp(
    subtypes,
    VIEWER_PRESETS.map((p) => PRESETS[p].label),
  )) {
    const table = h(doc, "table", { class: "vw-keys" }, h(doc, "caption", {}, section.title));
    const body = h(doc, "tbody");
    for (const row of section.rows) body.append(h(doc, "tr", {}, h(doc, "th", { scope: "row" }, row.keys), h(doc, "td", {}, row.what)));
    table.append(body);
    box.append(table);
  }
  return box;
}

export interface RowInfo {
  codes: Codes | undefined;
  points: number;
  current: boolean;
  inRange: boolean;
  loaded: boolean;
  refs?: (Codes | undefined)[];
}

/** Update one strip row; chips are rebuilt only when the codes change. */
export function updateRow(row: HTMLLIElement, info: RowInfo, subtypes: readonly string[]): void {
  const doc = row.ownerDocument;
  const key = info.codes === undefined ? "?" : info.codes.join(",");
  if (row.dataset["codes"] !== key) {
    row.dataset["codes"] = key;
    row.dataset["state"] = info.codes === undefined ? "unlabeled" : info.codes.length ? "positive" : "negative";
    row.querySelector(".vw-row-labels")?.replaceChildren(chips(doc, info.codes, subtypes));
  }
  const pts = row.querySelector<HTMLElement>(".vw-row-points");
  const ptsText = info.points ? `◎${info.points}` : "";
  if (pts && pts.textContent !== ptsText) {
    pts.textContent = ptsText;
    pts.title = info.points ? `${info.points} bleeding point${info.points === 1 ? "" : "s"}` : "";
  }
  toggleAttr(row, "aria-current", info.current ? "true" : null);
  row.classList.toggle("is-current", info.current);
  row.classList.toggle("in-range", info.inRange);
  row.classList.toggle("is-loaded", info.loaded);
  if (info.refs) {
    const cells = row.querySelectorAll<HTMLElement>(".vw-row-ref");
    info.refs.forEach((codes, i) => {
      const cell = cells[i];
      const k = codes === undefined ? "?" : codes.join(",");
      if (cell && cell.dataset["codes"] !== k) {
        cell.dataset["codes"] = k;
        cell.replaceChildren(chips(doc, codes, subtypes, true));
      }
    });
  }
}

export function toggleAttr(el: Element, name: string, value: string | null): void {
  if (value === null) el.removeAttribute(name);
  else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export interface PointRowHandlers {
  subtypes: readonly string[];
  editable: boolean;
  selectedKey: string | null;
}

/** The points of the current slice as a list with subtype select and delete button. */
export function renderPointsList(list: HTMLUListElement, points: readonly ClientPoint[], opts: PointRowHandlers): void {
  const doc = list.ownerDocument;
  list.replaceChildren();
  if (points.length === 0) {
    list.append(h(doc, "li", { class: "vw-muted" }, opts.editable ? "Click the image to add a point." : "No points on this slice."));
    return;
  }
  points.forEach((p, n) => {
    const select = h(doc, "select", {
      "data-action": "point-subtype",
      "data-key": p.key,
      "aria-label": `Subtype of point ${n + 1}`,
      disabled: !opts.editable,
    });
    for (const code of ["", ...opts.subtypes]) {
      select.append(h(doc, "option", { value: code, selected: (p.subtype ?? "") === code }, code || "—"));
    }
    const dot = h(doc, "span", { class: "vw-dot", "aria-hidden": "true" });
    dot.style.setProperty("--chip", subtypeColor(p.subtype, opts.subtypes));
    const li = h(
      doc,
      "li",
      { class: "vw-point", "data-key": p.key, "aria-selected": p.key === opts.selectedKey ? "true" : "false" },
      button(doc, { class: "vw-point-select", "data-action": "point-select", "data-key": p.key, title: "Select this point" }, dot, `${p.x.toFixed(1)}, ${p.y.toFixed(1)}`),
      select,
      opts.editable
        ? button(
            doc,
            { class: "vw-btn vw-btn-sm", "data-action": "point-delete", "data-key": p.key, title: "Delete this point (Delete)", "aria-label": `Delete point ${n + 1}` },
            "✕",
          )
        : null,
    );
    list.append(li);
  });
}
