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
    const model = new FakeModel({ opacity: 0.6, colormap: "viridis", colormap_names: ["inferno", "viridis", "RdBu_r"], clip: 98, sign: "positive", top_k: 10, show_uncertainty: true });
    const applied: Array<[string, unknown]> = [];
    const rec = (name: string) => (v: unknown) => applied.push([name, v]);
    const view = {
      setOpacity: rec("opacity"),
      setColormap: rec("colormap"),
      setClip: rec("clip"),
      setSign: rec("sign"),
      setTopK: rec("top_k"),
      setShowUncertainty: rec("show_uncertainty"),
    };
    const bar = new ControlBar(DISPLAY_CONTROLS as unknown as ControlSpec<typeof view>[], { model, target: view, doc: document });
    const slider = bar.el.querySelector("input.nbx-opacity") as HTMLInputElement;
    expect(slider.type).toBe("range");
    expect(slider.value).toBe("0.6");
    expect(slider.getAttribute("aria-label")).toBe("heatmap opacity");
    const cmap = bar.el.querySelector("select.nbx-colormap") as HTMLSelectElement;
    expect(cmap.value).toBe("viridis");
    expect(Array.from(cmap.options).map((o) => o.value)).toEqual(["auto", "inferno", "viridis", "RdBu_r"]);
    expect((bar.el.querySelector("input.nbx-clip") as HTMLInputElement).value).toBe("98");
    expect((bar.el.querySelector("select.nbx-sign") as HTMLSelectElement).value).toBe("positive");
    expect((bar.el.querySelector("input.nbx-top-k") as HTMLInputElement).value).toBe("10");
    expect((bar.el.querySelector("input.nbx-show-uncertainty") as HTMLInputElement).checked).toBe(true);
    expect(applied).toEqual([
      ["opacity", 0.6],
      ["colormap", "viridis"],
      ["clip", 98],
      ["sign", "positive"],
      ["top_k", 10],
      ["show_uncertainty", true],
    ]);
    bar.destroy();
    expect(model.listenerCount()).toBe(0);
  });

  it("colormap options = auto + colormap_names, re-rendered when the names change", () => {
    const model = new FakeModel({ colormap: "magma", colormap_names: [] });
    const applied: unknown[] = [];
    const spec = DISPLAY_CONTROLS.find((c) => c.trait === "colormap")! as unknown as ControlSpec<unknown>;
    const c = mountControl({ ...spec, apply: (_t: unknown, v: unknown) => applied.push(v) } as ControlSpec<unknown>, { model, target: null, doc: document });
    const sel = c.input as HTMLSelectElement;
    // no names from the kernel: the built-in tables are offered; "magma" is kept as the model's string
    expect(Array.from(sel.options).map((o) => o.value)).toEqual(["auto", "inferno", "viridis", "RdBu_r"]);
    model.set("colormap_names", ["magma", "<b>bwr</b>"]);
    expect(Array.from(sel.options).map((o) => o.textContent)).toEqual(["auto", "magma", "<b>bwr</b>"]);
    expect(sel.querySelector("b")).toBeNull();
    expect(sel.value).toBe("magma");
    userInput(sel, "<b>bwr</b>", "change");
    expect(model.get("colormap")).toBe("<b>bwr</b>");
    expect(last(applied)).toBe("<b>bwr</b>");
    expect(model.saves).toBe(1);
    c.destroy();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("options from a kernel-owned list trait", () => {
  const { selectFrom } = controlKit<Target>();
  const spec = selectFrom({
    trait: "layer",
    label: "Layer",
    options: [{ value: "", label: "auto" }],
    optionsFrom: { trait: "layer_choices" },
    default: "",
    apply: (t, v) => t.applied.push(["layer", v]),
  });

  it("builds the options from the trait, follows its changes, and re-reads the model value", () => {
    const { model, control, target } = mount(spec, { layer: "conv2", layer_choices: ["conv1"] });
    const sel = control.input as HTMLSelectElement;
    expect(Array.from(sel.options).map((o) => [o.value, o.textContent])).toEqual([
      ["", "auto"],
      ["conv1", "conv1"],
    ]);
    expect(sel.value).toBe(""); // conv2 is not offered (yet)
    model.set("layer_choices", ["conv1", "conv2"]);
    expect(sel.value).toBe("conv2");
    expect(last(target.applied)).toEqual(["layer", "conv2"]);
    expect(model.saves).toBe(0); // the kernel's value is shown, never saved back
    userInput(sel, "conv1", "change");
    expect(model.get("layer")).toBe("conv1");
    expect(model.saves).toBe(1);
    control.destroy();
    expect(model.listenerCount()).toBe(0);
  });
});

describe("visibility", () => {
  const steps = range({ trait: "steps", label: "Steps", min: 1, max: 300, step: 1, default: 50, methodOption: true });
  const sigma = range({ trait: "blur_sigma", label: "σ", min: 0.5, max: 20, step: 0.5, default: 5, visible: (ctx) => ctx.get("baseline") === "blur" });
  const ctx = (method: string, options: string[], state: Record<string, unknown> = {}) => ({
    get: (t: string) => state[t],
    method,
    methodOptions: options,
    hasUncertainty: false,
  });

  it("a method option is shown only while the chosen method lists it", () => {
    const { control } = mount(steps, { steps: 50 });
    expect(control.updateVisibility(ctx("integrated_gradients", ["steps", "rule"]))).toBe(true);
    expect(control.el.classList.contains("nbx-hidden")).toBe(false);
    expect(control.updateVisibility(ctx("saliency", []))).toBe(false);
    expect(control.el.classList.contains("nbx-hidden")).toBe(true);
    expect(control.el.hidden).toBe(true);
  });

  it("a condition on another trait", () => {
    const { control } = mount(sigma, {});
    expect(control.updateVisibility(ctx("x", [], { baseline: "blur" }))).toBe(true);
    expect(control.updateVisibility(ctx("x", [], { baseline: "black" }))).toBe(false);
  });
});

describe("ranges: integers, log scale, throttled writes", () => {
  const budget = range({ trait: "budget", label: "Budget", min: 16, max: 4096, step: 1, integer: true, scale: "log", default: 256 });
  const samples = range({ trait: "samples", label: "Samples", min: 1, max: 200, step: 1, integer: true, default: 20, throttleMs: 100, format: (v) => String(v) });

  it("a log slider moves over 0..1000; the trait holds the (integer) value", () => {
    const { model, control } = mount(budget, { budget: 256 });
    const input = control.input as HTMLInputElement;
    expect([input.min, input.max, input.dataset.scale]).toEqual(["0", "1000", "log"]);
    expect(input.value).toBe("500"); // 16·256^(500/1000) = 256
    expect(input.dataset.value).toBe("256");
    userInput(input, "1000", "input");
    expect(model.get("budget")).toBe(4096);
    userInput(input, "0", "input");
    expect(model.get("budget")).toBe(16);
    userInput(input, "625", "input");
    expect(model.get("budget")).toBe(Math.round(16 * 256 ** 0.625)); // 512
    expect(model.get("budget")).toBe(512);
    model.set("budget", 1024);
    expect(input.value).toBe("750");
  });

  it("integer ranges round", () => {
    const { model, control } = mount(samples, {});
    userInput(control.input, "7.6", "input");
    expect(model.get("samples")).toBe(8);
  });

  it("while dragged: the first value at once, then at most one per interval, the last one always", () => {
    vi.useFakeTimers();
    try {
      const { model, control } = mount(samples, { samples: 20 });
      const writes: number[] = [];
      model.on("change:samples", () => writes.push(model.get("samples")));
      userInput(control.input, "30", "input");
      expect(model.get("samples")).toBe(30); // leading edge
      userInput(control.input, "40", "input");
      userInput(control.input, "50", "input");
      expect(model.get("samples")).toBe(30);
      expect(control.el.querySelector(".nbx-control-value")!.textContent).toBe("50"); // the readout follows at once
      vi.advanceTimersByTime(100);
      expect(model.get("samples")).toBe(50); // trailing edge: the last value
      expect(writes).toEqual([30, 50]);
      userInput(control.input, "60", "input");
      userInput(control.input, "70", "input");
      control.input.dispatchEvent(new Event("change")); // released: written now
      expect(model.get("samples")).toBe(70);
      vi.advanceTimersByTime(1000);
      expect(writes).toEqual([30, 50, 70]); // 60 was superseded before its turn
      expect(model.saves).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
