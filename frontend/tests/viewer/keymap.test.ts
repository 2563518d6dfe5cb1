// @vitest-environment node
import { describe, expect, it } from "vitest";
import { KeyInterpreter, VIEWER_PRESETS, digitOf, isTypingTarget, keymapHelp } from "../../src/viewer/keymap";

function el(tagName: string, extra: Record<string, unknown> = {}): EventTarget {
  return { tagName: tagName.toUpperCase(), getAttribute: () => null, isContentEditable: false, ...extra } as unknown as EventTarget;
}

describe("keymap", () => {
  it("maps label keys, 0, C and digits by code (Shift / AZERTY)", () => {
    const k = new KeyInterpreter(() => 0);
    expect(k.keyDown({ key: "1", code: "Digit1" })).toEqual({ type: "label", index: 0 });
    expect(k.keyDown({ key: "5", code: "Numpad5" })).toEqual({ type: "label", index: 4 });
    expect(k.keyDown({ key: "!", code: "Digit1", shiftKey: true })).toEqual({ type: "label", index: 0 });
    expect(k.keyDown({ key: "&", code: "Digit1" })).toEqual({ type: "label", index: 0 }); // AZERTY unshifted
    expect(k.keyDown({ key: "0", code: "Digit0" })).toEqual({ type: "none" });
    expect(k.keyDown({ key: "c", code: "KeyC" })).toEqual({ type: "copyPrevious" });
    expect(k.keyDown({ key: "C", code: "KeyC", shiftKey: true })).toEqual({ type: "copyPrevious" });
    expect(digitOf({ key: "x", code: "KeyX" })).toBeNull();
  });

  it("leaves browser shortcuts alone, but Ctrl+Enter submits", () => {
    const k = new KeyInterpreter(() => 0);
    expect(k.keyDown({ key: "1", code: "Digit1", ctrlKey: true })).toBeNull();
    expect(k.keyDown({ key: "r", code: "KeyR", metaKey: true })).toBeNull();
    expect(k.keyDown({ key: "1", code: "Digit1", altKey: true })).toBeNull();
    expect(k.keyDown({ key: "Enter", ctrlKey: true })).toEqual({ type: "submit" });
    expect(k.keyDown({ key: "Enter", metaKey: true })).toEqual({ type: "submit" });
    expect(k.keyDown({ key: "Enter" })).toBeNull();
  });

  it("scrolls with arrows / PageUp / PageDown, Shift extends the range", () => {
    const k = new KeyInterpreter(() => 0);
    expect(k.keyDown({ key: "ArrowDown" })).toEqual({ type: "slice", delta: 1, extend: false });
    expect(k.keyDown({ key: "PageUp" })).toEqual({ type: "slice", delta: -1, extend: false });
    expect(k.keyDown({ key: "ArrowUp", shiftKey: true })).toEqual({ type: "slice", delta: -1, extend: true });
    expect(k.keyDown({ key: "ArrowDown", repeat: true })).toEqual({ type: "slice", delta: 1, extend: false }); // cine
    expect(k.keyDown({ key: "End" })).toEqual({ type: "sliceEdge", edge: "last", extend: false });
    expect(k.keyDown({ key: "1", code: "Digit1", repeat: true })).toBeNull(); // no auto-repeat toggling
  });

  it("selects presets with F1–F5 and with the W chord (which does not clash with labels)", () => {
    let now = 1000;
    const k = new KeyInterpreter(() => now, 1500);
    expect(k.keyDown({ key: "F1" })).toEqual({ type: "preset", index: 0 });
    expect(k.keyDown({ key: "F5" })).toEqual({ type: "preset", index: 4 });
    expect(k.keyDown({ key: "F6" })).toBeNull();
    expect(k.keyDown({ key: "w", code: "KeyW" })).toEqual({ type: "windowChord" });
    expect(k.chordPending).toBe(true);
    expect(k.keyDown({ key: "4", code: "Digit4" })).toEqual({ type: "preset", index: 3 });
    expect(k.keyDown({ key: "4", code: "Digit4" })).toEqual({ type: "label", index: 3 }); // chord consumed
    k.keyDown({ key: "w" });
    expect(k.keyDown({ key: "Escape" })).toEqual({ type: "chordCancelled" });
    k.keyDown({ key: "w" });
    now += 2000; // timed out: the digit labels again
    expect(k.keyDown({ key: "2", code: "Digit2" })).toEqual({ type: "label", index: 1 });
    k.keyDown({ key: "w" });
    expect(k.keyDown({ key: "ArrowDown" })).toEqual({ type: "slice", delta: 1, extend: false });
    expect(VIEWER_PRESETS).toEqual(["brain", "blood", "subdural", "bone", "stroke"]);
  });

  it("maps zoom, fit, cases, help, delete, armed, escape and space", () => {
    const k = new KeyInterpreter(() => 0);
    expect(k.keyDown({ key: "+" })).toEqual({ type: "zoom", factor: 1.25 });
    expect(k.keyDown({ key: "=" })).toEqual({ type: "zoom", factor: 1.25 });
    expect(k.keyDown({ key: "-" })).toEqual({ type: "zoom", factor: 0.8 });
    expect(k.keyDown({ key: "f" })).toEqual({ type: "fit" });
    expect(k.keyDown({ key: "r" })).toEqual({ type: "resetView" });
    expect(k.keyDown({ key: "n" })).toEqual({ type: "nextCase" });
    expect(k.keyDown({ key: "P", shiftKey: true })).toEqual({ type: "previousCase" });
    expect(k.keyDown({ key: "?", shiftKey: true, code: "Slash" })).toEqual({ type: "help" });
    expect(k.keyDown({ key: "Delete" })).toEqual({ type: "deletePoint" });
    expect(k.keyDown({ key: "Backspace" })).toEqual({ type: "deletePoint" });
    expect(k.keyDown({ key: "a" })).toEqual({ type: "cycleArmed" });
    expect(k.keyDown({ key: "Escape" })).toEqual({ type: "escape" });
    expect(k.keyDown({ key: " ", code: "Space" })).toEqual({ type: "space", down: true });
    expect(k.space).toBe(true);
    expect(k.keyUp({ key: " ", code: "Space" })).toEqual({ type: "space", down: false });
    expect(k.space).toBe(false);
    expect(k.keyDown({ key: "q" })).toBeNull();
  });

  it("ignores keys while typing in form fields, not on buttons", () => {
    const k = new KeyInterpreter(() => 0);
    expect(isTypingTarget(el("textarea"))).toBe(true);
    expect(isTypingTarget(el("select"))).toBe(true);
    expect(isTypingTarget(el("input", { type: "text" }))).toBe(true);
    expect(isTypingTarget(el("input", { type: "number" }))).toBe(true);
    expect(isTypingTarget(el("div", { isContentEditable: true }))).toBe(true);
    expect(isTypingTarget(el("input", { type: "checkbox" }))).toBe(false);
    expect(isTypingTarget(el("button"))).toBe(false);
    expect(isTypingTarget(null)).toBe(false);
    expect(k.keyDown({ key: "1", code: "Digit1", target: el("textarea") })).toBeNull();
    expect(k.keyDown({ key: "ArrowDown", target: el("input", { type: "search" }) })).toBeNull();
    expect(k.keyDown({ key: "1", code: "Digit1", target: el("button") })).toEqual({ type: "label", index: 0 });
  });

  it("documents every subtype key and preset in the help", () => {
    const help = keymapHelp(["IPH", "IVH", "SDH", "EDH", "SAH"], ["Brain", "Blood", "Subdural", "Bone", "Stroke"]);
    const rows = help.flatMap((s) => s.rows);
    expect(rows.find((r) => r.keys === "1")?.what).toBe("Toggle IPH");
    expect(rows.find((r) => r.keys === "5")?.what).toBe("Toggle SAH");
    expect(rows.some((r) => r.keys.startsWith("F4") && r.what.startsWith("Bone"))).toBe(true);
    expect(rows.some((r) => r.keys.includes("Shift+click"))).toBe(true);
  });
});
