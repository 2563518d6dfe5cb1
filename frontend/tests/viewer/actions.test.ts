// @vitest-environment node
import { describe, expect, it } from "vitest";
import { clickCommand, keepsFocus, runAction, wheelPixels, wheelSteps, type ActionTarget } from "../../src/viewer/actions";
import type { Action } from "../../src/viewer/keymap";

/** A command target that records every call as [method, args]. */
function recorder(): { target: ActionTarget; calls: [string, unknown[]][] } {
  const calls: [string, unknown[]][] = [];
  const target = new Proxy(
    {},
    {
      get: (_, name) =>
        (...args: unknown[]) => {
          calls.push([String(name), args]);
        },
    },
  ) as ActionTarget;
  return { target, calls };
}

function el(dataset: Record<string, string>): HTMLElement {
  return { dataset } as unknown as HTMLElement;
}

describe("keymap action -> command", () => {
  const cases: [Action, string, unknown[]][] = [
    [{ type: "label", index: 2 }, "toggleLabel", [2]],
    [{ type: "none" }, "markNone", []],
    [{ type: "copyPrevious" }, "copyLabels", []],
    [{ type: "slice", delta: -1, extend: true }, "step", [-1, true]],
    [{ type: "sliceEdge", edge: "last", extend: true }, "toEdge", ["last", true]],
    [{ type: "preset", index: 3 }, "presetAt", [3]],
    [{ type: "chordCancelled" }, "cancelChord", []],
    [{ type: "zoom", factor: 0.8 }, "zoom", [0.8]],
    [{ type: "fit" }, "fit", []],
    [{ type: "resetView" }, "resetView", []],
    [{ type: "nextCase" }, "goCase", [1]],
    [{ type: "previousCase" }, "goCase", [-1]],
    [{ type: "help" }, "toggleKeymap", []],
    [{ type: "escape" }, "escape", []],
    [{ type: "deletePoint" }, "deleteSelected", []],
    [{ type: "cycleArmed" }, "cycleArmed", []],
    [{ type: "submit" }, "submit", []],
    [{ type: "space", down: true }, "panReady", [true]],
  ];

  it.each(cases)("%o ends a W chord, then calls %s", (action, method, args) => {
    const { target, calls } = recorder();
    runAction(target, action);
    expect(calls).toEqual([
      ["chord", [false]],
      [method, args],
    ]);
  });

  it("W starts the chord and nothing else", () => {
    const { target, calls } = recorder();
    runAction(target, { type: "windowChord" });
    expect(calls).toEqual([["chord", [true]]]);
  });
});

describe("button data-action -> command", () => {
  function click(action: string, dataset: Record<string, string> = {}, shiftKey = false): [string, unknown[]][] {
    const { target, calls } = recorder();
    const command = clickCommand(action);
    if (!command) throw new Error(`no command for ${action}`);
    command(target, el(dataset), { shiftKey });
    return calls;
  }

  it("reads the element's data attributes", () => {
    expect(click("goto", { slice: "2" }, true)).toEqual([["setSlice", [2, { extend: true }]]]);
    expect(click("goto", { slice: "x" })).toEqual([]);
    expect(click("preset", { preset: "bone" })).toEqual([["setPreset", ["bone"]]]);
    expect(click("preset", { preset: "nope" })).toEqual([]);
    expect(click("label", { code: "SAH" })).toEqual([["toggleCode", ["SAH"]]]);
    expect(click("arm", { code: "" })).toEqual([["setArmed", [null]]]);
    expect(click("arm", { code: "IVH" })).toEqual([["setArmed", ["IVH"]]]);
    expect(click("point-delete", { key: "p-1" })).toEqual([["deletePoint", ["p-1"]]]);
    expect(click("point-select", {})).toEqual([["selectPoint", [""]]]);
  });

  it("maps toolbar and panel buttons", () => {
    expect(click("zoom-in")).toEqual([["zoom", [1.25]]]);
    expect(click("zoom-out")).toEqual([["zoom", [0.8]]]);
    expect(click("prev-case")).toEqual([["goCase", [-1]]]);
    expect(click("help")).toEqual([["toggleKeymap", [true]]]);
    expect(click("help-close")).toEqual([["toggleKeymap", [false]]]);
    expect(click("clear-range")).toEqual([
      ["chord", [false]],
      ["escape", []],
    ]);
    expect(click("exclude-open")).toEqual([["openExclude", []]]);
    expect(click("reload")).toEqual([["reload", []]]);
  });

  it("knows nothing else (not even Object.prototype names)", () => {
    for (const action of [undefined, "", "toString", "constructor", "point-subtype", "toggle-ref-points"]) {
      expect(clickCommand(action)).toBeUndefined();
    }
  });

  it("keeps focus only on buttons that open something to type in", () => {
    expect(keepsFocus("help")).toBe(true);
    expect(keepsFocus("exclude-open")).toBe(true);
    expect(keepsFocus("label")).toBe(false);
  });
});

describe("wheel -> slices", () => {
  it("converts lines and pages to px", () => {
    expect(wheelPixels({ deltaY: 3, deltaMode: 0 })).toBe(3);
    expect(wheelPixels({ deltaY: 3, deltaMode: 1 })).toBe(120);
    expect(wheelPixels({ deltaY: -1, deltaMode: 2 })).toBe(-400);
  });

  it("moves one slice per notch and drops the trackpad remainder", () => {
    expect(wheelSteps(100, 12)).toEqual({ steps: 1, acc: 0 });
    expect(wheelSteps(-50, 0)).toEqual({ steps: -1, acc: 0 });
  });

  it("adds small deltas up to 30 px", () => {
    let state = { steps: 0, acc: 0 };
    const steps: number[] = [];
    for (const dy of [10, 10, 5, 10, -20]) {
      state = wheelSteps(dy, state.acc);
      steps.push(state.steps);
    }
    expect(steps).toEqual([0, 0, 0, 1, 0]);
    expect(state.acc).toBe(-20);
    expect(wheelSteps(-15, state.acc)).toEqual({ steps: -1, acc: 0 });
  });
});
