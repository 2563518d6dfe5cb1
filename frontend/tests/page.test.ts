import { afterEach, describe, expect, it, vi } from "vitest";

import { onDomReady, startPage } from "../src/lib/page";

afterEach(() => {
  vi.unstubAllGlobals();
  document.body.replaceChildren();
});

/** A document still parsing: getElementById reads the real one, DOMContentLoaded is fired by hand. */
function loadingDocument(): Document & { finish(): void } {
  const doc = Object.assign(new EventTarget(), {
    readyState: "loading",
    getElementById: (id: string) => document.getElementById(id),
    finish: () => doc.dispatchEvent(new Event("DOMContentLoaded")),
  });
  return doc as unknown as Document & { finish(): void };
}

describe("onDomReady", () => {
  it("runs at once when the DOM is parsed", () => {
    const fn = vi.fn();
    onDomReady(fn);
    expect(fn).toHaveBeenCalledOnce();
  });

  it("waits for DOMContentLoaded while the document is loading, and runs once", () => {
    const doc = loadingDocument();
    const fn = vi.fn();
    onDomReady(fn, doc);
    expect(fn).not.toHaveBeenCalled();
    doc.finish();
    doc.finish();
    expect(fn).toHaveBeenCalledOnce();
  });

  it("does nothing without a document", () => {
    vi.stubGlobal("document", undefined);
    const fn = vi.fn();
    expect(() => onDomReady(fn)).not.toThrow();
    expect(() => startPage("viewer", fn)).not.toThrow();
    expect(fn).not.toHaveBeenCalled();
  });
});

describe("startPage", () => {
  it("mounts on the element with the id", () => {
    document.body.innerHTML = `<div id="other"></div><div id="review"></div>`;
    const mount = vi.fn();
    startPage("review", mount);
    expect(mount).toHaveBeenCalledExactlyOnceWith(document.getElementById("review"));
  });

  it("leaves a missing or already mounted root alone", () => {
    document.body.innerHTML = `<div id="viewer" data-ready></div>`;
    const mount = vi.fn();
    startPage("viewer", mount);
    startPage("dashboards", mount);
    expect(mount).not.toHaveBeenCalled();
  });

  it("looks the root up only once the DOM is ready", () => {
    const doc = loadingDocument();
    const mount = vi.fn(async () => {});
    startPage("dashboards", mount, doc);
    document.body.innerHTML = `<div id="dashboards"></div>`; // parsed after the script ran
    expect(mount).not.toHaveBeenCalled();
    doc.finish();
    expect(mount).toHaveBeenCalledExactlyOnceWith(document.getElementById("dashboards"));
  });
});
