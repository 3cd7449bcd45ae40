// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { ValueSource } from "../lib/bind";
import { CORE_TRAIT_NAMES } from "../lib/types";
import { FakeModel } from "../testing/fake-model";
import { ControlBar, controlKit, mountControl, type ControlSpec } from "./bound-controls";
import { DISPLAY_CONTROLS } from "./display-controls";

const last = <T>(a: readonly T[]): T | undefined => a[a.length - 1];

/** Records what the controls apply, like the heatmap view would. */
interface Target {
  applied: Array<[string, unknown]>;
}

const { range, select, toggle } = controlKit<Target>();

const clip = range({
  trait: "clip_pct",
  label: "Clip <b>pct</b>",
  min: 90,
  max: 100,
  step: 0.5,
  default: 99.5,
  format: (v) => `${v}%`,
  apply: (t, v) => t.applied.push(["clip_pct", v]),
});
const cmap = select({
  trait: "cmap",
  label: "Map",
  options: [
    { value: "auto", label: "auto" },
    { value: "rdbu", label: "<i>RdBu</i>" },
  ],
  default: "auto",
  apply: (t, v) => t.applied.push(["cmap", v]),
});
const outline = toggle({
  trait: "outline",
  label: "Outline",
  default: false,
  apply: (t, v) => t.applied.push(["outline", v]),
});

function mount<S extends ControlSpec<Target>>(spec: S, state: Record<string, unknown>) {
  const model = new FakeModel(state);
  const target: Target = { applied: [] };
  const after: ValueSource[] = [];
  const control = mountControl(spec, { model, target, doc: document, afterChange: (s) => after.push(s) });
  document.body.append(control.el);
  return { model, target, after, control };
}

function userInput(el: HTMLInputElement | HTMLSelectElement, value: string, event: "input" | "change"): void {
  el.value = value;
  el.dispatchEvent(new Event(event, { bubbles: true }));
}

beforeEach(() => {
  document.body.replaceChildren();
});

describe("mountControl: range", () => {
  it("builds a labelled slider set from the model", () => {
    const { control, target, after } = mount(clip, { clip_pct: 97 });
    const input = control.input as HTMLInputElement;
    expect(control.el.tagName).toBe("LABEL");
    expect(control.el.className).toBe("nbx-control");
    expect(control.el.dataset.trait).toBe("clip_pct");
    expect(input.type).toBe("range");
    expect(input.className).toBe("nbx-clip-pct");
    expect([input.min, input.max, input.step]).toEqual(["90", "100", "0.5"]);
    expect(input.value).toBe("97");
    expect(control.el.querySelector(".nbx-control-value")!.textContent).toBe("97%");
    expect(input.getAttribute("aria-valuetext")).toBe("97%");
    // the label is text, never HTML
    expect(control.el.querySelector(".nbx-control-label")!.textContent).toBe("Clip <b>pct</b>");
    expect(control.el.querySelector("b")).toBeNull();
    // applied once at start, without a redraw request
    expect(target.applied).toEqual([["clip_pct", 97]]);
    expect(after).toEqual([]);
  });

  it("user input sets and saves the trait, applies it and asks for a redraw", () => {
    const { model, control, target, after } = mount(clip, { clip_pct: 97 });
    userInput(control.input, "92", "input");
    expect(model.get("clip_pct")).toBe(92);
    expect(model.saves).toBe(1);
    expect(model.sent).toHaveLength(0);
    expect(last(target.applied)).toEqual(["clip_pct", 92]);
    expect(after).toEqual(["user"]);
    expect(control.el.querySelector(".nbx-control-value")!.textContent).toBe("92%");
  });

  it("follows kernel changes without saving them back", () => {
    const { model, control, target, after } = mount(clip, { clip_pct: 97 });
    model.set("clip_pct", 95.5); // Python set the trait
    expect((control.input as HTMLInputElement).value).toBe("95.5");
    expect(control.el.querySelector(".nbx-control-value")!.textContent).toBe("95.5%");
    expect(last(target.applied)).toEqual(["clip_pct", 95.5]);
    expect(after).toEqual(["kernel"]);
    expect(model.saves).toBe(0);
    expect(model.get("clip_pct")).toBe(95.5);
  });

  it("no echo loop: a user input is saved once and applied once", () => {
    const { model, control, target, after } = mount(clip, { clip_pct: 97 });
    userInput(control.input, "91", "input");
    userInput(control.input, "91", "input"); // same value again: nothing new
    model.set("clip_pct", 93); // then the kernel moves it
    expect(model.saves).toBe(1);
    expect(target.applied).toEqual([
      ["clip_pct", 97],
      ["clip_pct", 91],
      ["clip_pct", 93],
    ]);
    expect(after).toEqual(["user", "kernel"]);
  });

  it("starts from the default when the model holds nothing valid", () => {
    const { control } = mount(clip, {});
    expect((control.input as HTMLInputElement).value).toBe("99.5");
    expect(control.binding.get()).toBe(99.5);
  });

  it("cleanup removes every listener", () => {
    const { model, control, target, after } = mount(clip, { clip_pct: 97 });
    expect(model.listenerCount()).toBe(1);
    control.destroy();
    control.destroy();
    expect(model.listenerCount()).toBe(0);
    model.set("clip_pct", 93);
    expect((control.input as HTMLInputElement).value).toBe("97");
    userInput(control.input, "91", "input");
    expect(model.get("clip_pct")).toBe(93);
    expect(model.saves).toBe(0);
    expect(target.applied).toHaveLength(1);
    expect(after).toEqual([]);
  });
  it("cleanup removes the DOM listeners too", () => {
    for (const [spec, value, event] of [
      [clip, "91", "input"],
      [cmap, "rdbu", "change"],
      [outline, "on", "change"],
    ] as const) {
      const { control } = mount(spec as ControlSpec<Target>, {});
      const write = vi.spyOn(control.binding, "write");
      userInput(control.input, value, event);
      expect(write).toHaveBeenCalledTimes(1);
      control.destroy();
      userInput(control.input, value, event);
      expect(write).toHaveBeenCalledTimes(1);
    }
  });
});

describe("mountControl: select and toggle", () => {
  it("select: options as text, user choice saved, kernel followed, unknown names shown as the default", () => {
    const { model, control, target } = mount(cmap, { cmap: "rdbu" });
    const sel = control.input as HTMLSelectElement;
    expect(sel.tagName).toBe("SELECT");
    expect(sel.className).toBe("nbx-cmap");
    expect(Array.from(sel.options).map((o) => [o.value, o.textContent])).toEqual([
      ["auto", "auto"],
      ["rdbu", "<i>RdBu</i>"],
    ]);
    expect(sel.querySelector("i")).toBeNull();
    expect(sel.value).toBe("rdbu");
    expect(control.el.querySelector(".nbx-control-value")).toBeNull(); // no format: no readout

    userInput(sel, "auto", "change");
    expect(model.get("cmap")).toBe("auto");
    expect(model.saves).toBe(1);

    model.set("cmap", "rdbu");
    expect(sel.value).toBe("rdbu");
    model.set("cmap", "jet");
    expect(sel.value).toBe("auto");
    expect(last(target.applied)).toEqual(["cmap", "auto"]);
    expect(model.saves).toBe(1);
  });

  it("toggle: a checkbox bound to a Bool trait", () => {
    const { model, control, target } = mount(outline, { outline: true });
    const box = control.input as HTMLInputElement;
    expect(box.type).toBe("checkbox");
    expect(box.checked).toBe(true);
    box.checked = false;
    box.dispatchEvent(new Event("change"));
    expect(model.get("outline")).toBe(false);
    expect(model.saves).toBe(1);
    model.set("outline", true);
    expect(box.checked).toBe(true);
    expect(target.applied).toEqual([
      ["outline", true],
      ["outline", false],
      ["outline", true],
    ]);
    expect(model.saves).toBe(1);
  });
});

describe("ControlBar", () => {
  it("one control per declaration in .nbx-controls; destroy removes every listener", () => {
    const model = new FakeModel({ clip_pct: 95, cmap: "auto", outline: false });
    const bar = new ControlBar<Target>([clip, cmap, outline], { model, target: { applied: [] }, doc: document });
    expect(bar.el.className).toBe("nbx-controls");
    expect(Array.from(bar.el.children).map((c) => (c as HTMLElement).dataset.trait)).toEqual(["clip_pct", "cmap", "outline"]);
    expect(bar.get("cmap")!.input.tagName).toBe("SELECT");
    expect(model.listenerCount()).toBe(3);
    bar.destroy();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("DISPLAY_CONTROLS", () => {
  it("are snake_case traits, one control each, none of them a core trait", () => {
    const traits = DISPLAY_CONTROLS.map((c) => c.trait);
    expect(traits).toContain("opacity");
    expect(traits).toContain("colormap");
    expect(new Set(traits).size).toBe(traits.length);
    for (const t of traits) {
      expect(t).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(CORE_TRAIT_NAMES as readonly string[]).not.toContain(t);
    }
  });

  it("keep the classes the browser tests use", () => {
    const model = new FakeModel({ opacity: 0.6, colormap: "viridis" });
    const applied: Array<[string, unknown]> = [];
    const view = { setOpacity: (v: number) => applied.push(["opacity", v]), setColormap: (n: string) => applied.push(["colormap", n]) };
    const bar = new ControlBar(DISPLAY_CONTROLS as unknown as ControlSpec<typeof view>[], { model, target: view, doc: document });
    const slider = bar.el.querySelector("input.nbx-opacity") as HTMLInputElement;
    expect(slider.type).toBe("range");
    expect(slider.value).toBe("0.6");
    expect(slider.getAttribute("aria-label")).toBe("heatmap opacity");
    expect((bar.el.querySelector("select.nbx-colormap") as HTMLSelectElement).value).toBe("viridis");
    expect(applied).toEqual([
      ["opacity", 0.6],
      ["colormap", "viridis"],
    ]);
    bar.destroy();
  });
});
