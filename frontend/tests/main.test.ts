import { afterEach, describe, expect, it, vi } from "vitest";
import "../src/main";

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("main: form[data-confirm]", () => {
  it("cancels the submit when the user declines", () => {
    document.body.innerHTML = `<form data-confirm="Delete this study?"><button>Delete</button></form>`;
    const confirm = vi.fn<(message?: string) => boolean>(() => false);
    vi.stubGlobal("confirm", confirm);
    const form = document.querySelector("form")!;
    const event = new Event("submit", { bubbles: true, cancelable: true });
    form.dispatchEvent(event);
    expect(confirm).toHaveBeenCalledWith("Delete this study?");
    expect(event.defaultPrevented).toBe(true);

    confirm.mockReturnValue(true);
    const ok = new Event("submit", { bubbles: true, cancelable: true });
    form.dispatchEvent(ok);
    expect(ok.defaultPrevented).toBe(false);
  });
});
