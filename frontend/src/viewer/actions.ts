/**
 * What the viewer's inputs mean, without DOM wiring: each keymap
 * {@link Action} and each button's `data-action` names one command, and a
 * wheel event becomes a number of slices. input.ts feeds events in.
 */
import { PRESETS, type PresetName } from "../lib/windowing";
import type { ViewerCommands } from "./commands";
import type { Action } from "./keymap";

/** The commands keys and buttons reach. */
export type ActionTarget = Pick<
  ViewerCommands,
  | "toggleLabel"
  | "toggleCode"
  | "markNone"
  | "copyLabels"
  | "setSlice"
  | "step"
  | "toEdge"
  | "setPreset"
  | "presetAt"
  | "chord"
  | "cancelChord"
  | "zoom"
  | "fit"
  | "resetView"
  | "goCase"
  | "toggleKeymap"
  | "escape"
  | "deleteSelected"
  | "deletePoint"
  | "selectPoint"
  | "cycleArmed"
  | "setArmed"
  | "submit"
  | "panReady"
  | "openExclude"
  | "closeExclude"
  | "include"
  | "reload"
>;

type KeyCommands = { [T in Action["type"]]: (c: ActionTarget, a: Extract<Action, { type: T }>) => void };

const KEY_COMMANDS: KeyCommands = {
  label: (c, a) => c.toggleLabel(a.index),
  none: (c) => c.markNone(),
  copyPrevious: (c) => c.copyLabels(),
  slice: (c, a) => c.step(a.delta, a.extend),
  sliceEdge: (c, a) => c.toEdge(a.edge, a.extend),
  preset: (c, a) => c.presetAt(a.index),
  windowChord: (c) => c.chord(true),
  chordCancelled: (c) => c.cancelChord(),
  zoom: (c, a) => c.zoom(a.factor),
  fit: (c) => c.fit(),
  resetView: (c) => c.resetView(),
  nextCase: (c) => void c.goCase(1),
  previousCase: (c) => void c.goCase(-1),
  help: (c) => c.toggleKeymap(),
  escape: (c) => c.escape(),
  deletePoint: (c) => c.deleteSelected(),
  cycleArmed: (c) => c.cycleArmed(),
  submit: (c) => void c.submit(),
  space: (c, a) => c.panReady(a.down),
};

/** Run a keymap action; any action but W itself ends a pending W chord. */
export function runAction(c: ActionTarget, action: Action): void {
  if (action.type !== "windowChord") c.chord(false);
  (KEY_COMMANDS[action.type] as (c: ActionTarget, a: Action) => void)(c, action);
}

/** A click on an element with this `data-action` (`el` is that element). */
export type ClickCommand = (c: ActionTarget, el: HTMLElement, e: Pick<MouseEvent, "shiftKey">) => void;

const CLICK_COMMANDS: Readonly<Record<string, ClickCommand>> = {
  goto: (c, el, e) => {
    const i = Number(el.dataset["slice"]);
    if (Number.isInteger(i)) c.setSlice(i, { extend: e.shiftKey });
  },
  preset: (c, el) => {
    const p = el.dataset["preset"] as PresetName | undefined;
    if (p && p in PRESETS) c.setPreset(p);
  },
  "zoom-in": (c) => c.zoom(1.25),
  "zoom-out": (c) => c.zoom(0.8),
  fit: (c) => c.fit(),
  "prev-case": (c) => void c.goCase(-1),
  "next-case": (c) => void c.goCase(1),
  help: (c) => c.toggleKeymap(true),
  "help-close": (c) => c.toggleKeymap(false),
  label: (c, el) => c.toggleCode(el.dataset["code"] ?? ""),
  none: (c) => c.markNone(),
  copy: (c) => c.copyLabels(),
  "clear-range": (c) => runAction(c, { type: "escape" }),
  arm: (c, el) => c.setArmed(el.dataset["code"] || null),
  "point-select": (c, el) => c.selectPoint(el.dataset["key"] ?? ""),
  "point-delete": (c, el) => c.deletePoint(el.dataset["key"] ?? ""),
  "exclude-open": (c) => c.openExclude(),
  "exclude-cancel": (c) => c.closeExclude(),
  include: (c) => c.include(),
  submit: (c) => void c.submit(),
  reload: (c) => c.reload(),
};

/** The command of a `data-action` value; undefined for anything else. */
export function clickCommand(action: string | undefined): ClickCommand | undefined {
  return action !== undefined && Object.hasOwn(CLICK_COMMANDS, action) ? CLICK_COMMANDS[action] : undefined;
}

/** Buttons that keep keyboard focus after a click (they open something to type in). */
export function keepsFocus(action: string): boolean {
  return action === "help" || action === "exclude-open";
}

/** Vertical wheel distance in px (lines are 40 px, pages 400 px). */
export function wheelPixels(e: Pick<WheelEvent, "deltaY" | "deltaMode">): number {
  const unit = e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 400 : 1;
  return e.deltaY * unit;
}

/**
 * Slices to move for a wheel distance `dy` given the remainder `acc` of small
 * deltas so far: a mouse-wheel notch (>= 50 px) is one slice; small trackpad
 * deltas accumulate to 30 px.
 */
export function wheelSteps(dy: number, acc: number): { steps: number; acc: number } {
  if (Math.abs(dy) >= 50) return { steps: Math.sign(dy), acc: 0 };
  const sum = acc + dy;
  if (Math.abs(sum) >= 30) return { steps: Math.sign(sum), acc: 0 };
  return { steps: 0, acc: sum };
}
