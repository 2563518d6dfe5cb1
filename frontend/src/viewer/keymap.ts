/**
 * Keyboard map of the labeling viewer (no DOM wiring): a key event becomes an
 * {@link Action}, or null when the viewer must leave the key alone (typing in
 * a form field, browser shortcuts such as Ctrl+1 or Ctrl+R, Alt combinations).
 *
 * Window presets use F1–F5 or the chord W then 1–5 (so they never clash with
 * the label keys 1–5). Digits are read from `event.code` when it is a digit
 * key, so Shift+1 (still holding Shift after a Shift+arrow range) and layouts
 * that need Shift for digits (AZERTY) label like 1.
 */
import type { PresetName } from "../lib/windowing";

export type Action =
  | { type: "label"; index: number } // toggle subtypes[index]
  | { type: "none" } // 0: no haemorrhage
  | { type: "copyPrevious" }
  | { type: "slice"; delta: number; extend: boolean }
  | { type: "sliceEdge"; edge: "first" | "last"; extend: boolean }
  | { type: "preset"; index: number }
  | { type: "windowChord" } // W pressed: the next 1–5 picks a preset
  | { type: "chordCancelled" }
  | { type: "zoom"; factor: number }
  | { type: "fit" }
  | { type: "resetView" }
  | { type: "nextCase" }
  | { type: "previousCase" }
  | { type: "help" }
  | { type: "escape" }
  | { type: "deletePoint" }
  | { type: "cycleArmed" }
  | { type: "submit" }
  | { type: "space"; down: boolean };

/** The five viewer presets, in key order (F1–F5, W 1–5). */
export const VIEWER_PRESETS: readonly PresetName[] = ["brain", "blood", "subdural", "bone", "stroke"];

export const ZOOM_STEP = 1.25;
export const CHORD_TIMEOUT_MS = 1500;

/** The parts of a KeyboardEvent the keymap looks at. */
export interface KeyLike {
  key: string;
  code?: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
  repeat?: boolean;
  target?: EventTarget | null;
}

const TEXT_INPUT_TYPES = new Set([
  "text",
  "search",
  "email",
  "password",
  "number",
  "url",
  "tel",
  "date",
  "datetime-local",
  "month",
  "week",
  "time",
  "",
]);

/**
 * True when keys belong to a form field: text-like inputs, textarea, select,
 * contenteditable. (Buttons, checkboxes and radios do not count: viewer keys
 * keep working after clicking a toolbar button.)
 */
export function isTypingTarget(target: EventTarget | null | undefined): boolean {
  if (!target || typeof (target as Element).tagName !== "string") return false;
  const el = target as HTMLElement;
  const tag = el.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select") return true;
  if (tag === "input") return TEXT_INPUT_TYPES.has(((el as HTMLInputElement).type || "").toLowerCase());
  if (el.isContentEditable) return true;
  const editable = el.getAttribute?.("contenteditable");
  return editable !== null && editable !== undefined && editable !== "false";
}

/** The digit of a digit key (top row or numpad), else null. */
export function digitOf(ev: KeyLike): number | null {
  const m = /^(?:Digit|Numpad)([0-9])$/.exec(ev.code ?? "");
  if (m) return Number(m[1]);
  if (/^[0-9]$/.test(ev.key)) return Number(ev.key);
  return null;
}

/** Actions that must not auto-repeat while a key is held down. */
const NO_REPEAT = new Set<Action["type"]>([
  "label",
  "none",
  "copyPrevious",
  "nextCase",
  "previousCase",
  "help",
  "submit",
  "deletePoint",
  "cycleArmed",
  "windowChord",
  "preset",
  "resetView",
  "fit",
]);

/**
 * Stateful only for the W chord and Space (held for panning).
 * `now` is injectable for tests.
 */
export class KeyInterpreter {
  private chordUntil = 0;
  private spaceHeld = false;

  constructor(
    private readonly now: () => number = () => Date.now(),
    private readonly chordTimeoutMs = CHORD_TIMEOUT_MS,
  ) {}

  get chordPending(): boolean {
    return this.chordUntil > 0 && this.now() <= this.chordUntil;
  }

  get space(): boolean {
    return this.spaceHeld;
  }

  /** keydown -> action (null: not ours, let the browser have it). */
  keyDown(ev: KeyLike): Action | null {
    if (isTypingTarget(ev.target)) return null;
    const action = this.resolve(ev);
    if (action && ev.repeat && NO_REPEAT.has(action.type)) return null;
    return action;
  }

  keyUp(ev: KeyLike): Action | null {
    if (ev.key === " " || ev.code === "Space") {
      if (!this.spaceHeld) return null;
      this.spaceHeld = false;
      return { type: "space", down: false };
    }
    return null;
  }

  /** Forget held keys (window blur). */
  reset(): void {
    this.spaceHeld = false;
    this.chordUntil = 0;
  }

  private resolve(ev: KeyLike): Action | null {
    const ctrl = !!(ev.ctrlKey || ev.metaKey);
    const shift = !!ev.shiftKey;
    const key = ev.key;

    if (ev.altKey) return null;
    if (ctrl) {
      if (key === "Enter") return { type: "submit" };
      return null; // browser shortcuts (Ctrl+1, Ctrl+R, Ctrl+C, Ctrl+±, …)
    }

    // W chord: W, then 1–5 within CHORD_TIMEOUT_MS.
    if (this.chordUntil > 0) {
      const pending = this.now() <= this.chordUntil;
      this.chordUntil = 0;
      if (pending) {
        const d = digitOf(ev);
        if (d !== null && d >= 1 && d <= VIEWER_PRESETS.length) return { type: "preset", index: d - 1 };
        if (key === "Escape") return { type: "chordCancelled" };
      }
      // Any other key ends the chord and is handled normally.
    }

    const fkey = /^F([1-9])$/.exec(key);
    if (fkey) {
      const n = Number(fkey[1]);
      return n <= VIEWER_PRESETS.length && !shift ? { type: "preset", index: n - 1 } : null;
    }

    if (key === "?") return { type: "help" };

    const digit = digitOf(ev);
    if (digit !== null) return digit === 0 ? { type: "none" } : { type: "label", index: digit - 1 };

    switch (key) {
      case "ArrowDown":
      case "PageDown":
        return { type: "slice", delta: 1, extend: shift };
      case "ArrowUp":
      case "PageUp":
        return { type: "slice", delta: -1, extend: shift };
      case "Home":
        return { type: "sliceEdge", edge: "first", extend: shift };
      case "End":
        return { type: "sliceEdge", edge: "last", extend: shift };
      case "+":
      case "=":
        return { type: "zoom", factor: ZOOM_STEP };
      case "-":
      case "_":
        return { type: "zoom", factor: 1 / ZOOM_STEP };
      case "Escape":
        return { type: "escape" };
      case "Delete":
      case "Backspace":
        return { type: "deletePoint" };
      case " ":
      case "Spacebar":
        this.spaceHeld = true;
        return { type: "space", down: true };
    }

    switch (key.toLowerCase()) {
      case "c":
        return { type: "copyPrevious" };
      case "n":
        return { type: "nextCase" };
      case "p":
        return { type: "previousCase" };
      case "f":
        return { type: "fit" };
      case "r":
        return { type: "resetView" };
      case "a":
        return { type: "cycleArmed" };
      case "w":
        this.chordUntil = this.now() + this.chordTimeoutMs;
        return { type: "windowChord" };
    }
    return null;
  }
}

export interface KeyHelp {
  keys: string;
  what: string;
}

/** The keymap overlay (and README) text; `subtypes` names keys 1–n. */
export function keymapHelp(subtypes: readonly string[], presetLabels: readonly string[]): { title: string; rows: KeyHelp[] }[] {
  return [
    {
      title: "Labels (current slice, or the selected range)",
      rows: [
        ...subtypes.slice(0, 9).map((code, i) => ({ keys: String(i + 1), what: `Toggle ${code}` })),
        { keys: "0", what: "No haemorrhage (clears the subtypes, marks the slice labeled)" },
        { keys: "C", what: "Copy the previous slice's labels (with a range: the anchor slice's labels to the whole range)" },
        {
          keys: "Shift+click a slice row, Shift+↑/↓",
          what: "Select a range from the current slice; the next label keys apply to every slice in it. Esc, or moving without Shift, clears it",
        },
      ],
    },
    {
      title: "Slices",
      rows: [
        { keys: "↑/↓, PageUp/PageDown, wheel", what: "Previous / next slice" },
        { keys: "Home / End", what: "First / last slice" },
        { keys: "Click a slice row", what: "Go to that slice" },
      ],
    },
    {
      title: "Window",
      rows: [
        ...presetLabels.map((label, i) => ({ keys: `F${i + 1}  or  W ${i + 1}`, what: `${label} window` })),
        { keys: "Right-drag", what: "Window: left/right = narrower/wider, up/down = lower/higher level" },
      ],
    },
    {
      title: "Zoom and pan",
      rows: [
        { keys: "Ctrl+wheel, + / -", what: "Zoom (about the cursor with the wheel)" },
        { keys: "Middle-drag, Space+drag", what: "Pan" },
        { keys: "F", what: "Fit the image" },
        { keys: "R", what: "Reset view (fit and brain window)" },
      ],
    },
    {
      title: "Bleeding points",
      rows: [
        { keys: "Click", what: "Add a point with the armed subtype" },
        { keys: "A", what: "Cycle the armed subtype (none, then each subtype)" },
        { keys: "Drag a marker", what: "Move it (click selects it)" },
        { keys: "Right-click a marker", what: "Delete it" },
        { keys: "Delete / Backspace", what: "Delete the selected marker" },
      ],
    },
    {
      title: "Case",
      rows: [
        { keys: "N / P", what: "Next / previous case in the queue" },
        { keys: "Ctrl+Enter", what: "Submit the read" },
        { keys: "?", what: "Show this keymap" },
        { keys: "Esc", what: "Close dialogs, clear the range, deselect" },
      ],
    },
  ];
}
