// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { CHOICE_TRAITS, COMPUTE_DEFAULTS } from "../testing/fixtures";
import { FakeModel } from "../testing/fake-model";
import { ControlBar, type ControlContext, type ControlSpec } from "./bound-controls";
import { COMPUTE_CONTROLS } from "./compute-controls";
import { DISPLAY_CONTROLS } from "./display-controls";
import { CORE_TRAIT_NAMES } from "../lib/types";
import { optionsOf, sanitizeMethodChoices } from "../lib/methods";

function mount(state: Record<string, unknown> = {}) {
  const model = new FakeModel({ ...CHOICE_TRAITS, ...COMPUTE_DEFAULTS, ...state });
  const bar = new ControlBar(COMPUTE_CONTROLS as unknown as ControlSpec<null>[], { model, target: null, doc: document });
  document.body.replaceChildren(bar.el);
  return { model, bar };
}

const ctxOf = (model: FakeModel): ControlContext => ({
  get: (t) => model.get(t),
  method: model.get("method"),
  methodOptions: optionsOf(sanitizeMethodChoices(model.get("method_choices")), model.get("method")),
  hasUncertainty: false,
});

/** [trait, selector, what the user does, the value the trait gets, a kernel value, what the element shows then] */
const CASES: Array<[string, string, string, unknown, unknown, string]> = [
  ["method", "select.nbx-method", "integrated_gradients", "integrated_gradients", "shapley", "shapley"],
  ["steps", "input.nbx-steps", "120", 120, 7, "7"],
  ["rule", "select.nbx-rule", "riemann_left", "riemann_left", "riemann_trapezoid", "riemann_trapezoid"],
  ["samples", "input.nbx-samples", "64", 64, 3, "3"],
  ["noise", "input.nbx-noise", "0.4", 0.4, 0.05, "0.05"],
  ["smooth_base", "select.nbx-smooth-base", "integrated_gradients", "integrated_gradients", "saliency", "saliency"],
  ["budget", "input.nbx-budget", "1000", 4096, 16, "0"],
  ["grid", "input.nbx-grid", "12", 12, 3, "3"],
  ["window", "input.nbx-window", "16", 16, 2, "2"],
  ["stride", "input.nbx-stride", "32", 32, 1, "1"],
  ["layer", "select.nbx-layer", "conv2", "conv2", "", ""],
  ["baseline", "select.nbx-baseline", "blur", "blur", "white", "white"],
  ["blur_sigma", "input.nbx-blur-sigma", "9.5", 9.5, 1.5, "1.5"],
  ["mix", "input.nbx-mix", "0.3", 0.3, 0.75, "0.75"],
  ["alpha", "input.nbx-alpha", "0.25", 0.25, 0.5, "0.5"],
];

beforeEach(() => document.body.replaceChildren());

describe("COMPUTE_CONTROLS", () => {
  it("are snake_case traits, one control each, none of them a core or display trait", () => {
    const traits = COMPUTE_CONTROLS.map((c) => c.trait);
    expect(new Set(traits).size).toBe(traits.length);
    const display = DISPLAY_CONTROLS.map((c) => c.trait) as string[];
    for (const t of traits) {
      expect(t).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(CORE_TRAIT_NAMES as readonly string[]).not.toContain(t);
      expect(display).not.toContain(t);
    }
    expect(traits.sort()).toEqual(CASES.map((c) => c[0]).sort());
  });

  it.each(CASES)("%s: user input writes the trait; a kernel change updates the control", (trait, selector, input, written, kernel, shown) => {
    const { model, bar } = mount();
    const el = bar.el.querySelector(selector) as HTMLInputElement | HTMLSelectElement;
    expect(el, selector).not.toBeNull();
    el.value = input;
    el.dispatchEvent(new Event(el.tagName === "SELECT" ? "change" : "input"));
    expect(model.get(trait)).toBe(written);
    expect(model.saves).toBe(1);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    model.set(trait, kernel);
    expect(el.value).toBe(shown);
    expect(model.saves).toBe(1);
    bar.destroy();
    expect(model.listenerCount()).toBe(0);
  });

  it("a drag does not settle; a release or a menu choice tells the kernel to start now", () => {
    const model = new FakeModel({ ...CHOICE_TRAITS, ...COMPUTE_DEFAULTS });
    const bar = new ControlBar(COMPUTE_CONTROLS as unknown as ControlSpec<null>[], {
      model,
      target: null,
      doc: document,
      onSettle: () => model.send({ kind: "settle" }),
    });
    const steps = bar.el.querySelector("input.nbx-steps") as HTMLInputElement;
    steps.value = "40";
    steps.dispatchEvent(new Event("input"));
    expect(model.sent).toEqual([]);            // mid-drag: the kernel lets the storm settle
    steps.dispatchEvent(new Event("change"));  // released
    expect(model.sent).toEqual([{ kind: "settle" }]);
    const rule = bar.el.querySelector("select.nbx-rule") as HTMLSelectElement;
    rule.value = "riemann_left";
    rule.dispatchEvent(new Event("change"));
    expect(model.sent).toEqual([{ kind: "settle" }, { kind: "settle" }]);
    bar.destroy();
  });

  it("auto controls: 0 is the method's own choice, shown as auto at the lowest position", () => {
    const { model, bar } = mount({ window: 0, budget: 0 });
    const win = bar.el.querySelector("input.nbx-window") as HTMLInputElement;
    expect(win.closest("label")!.querySelector(".nbx-control-value")!.textContent).toBe("auto");
    win.value = "5";
    win.dispatchEvent(new Event("input"));
    expect(model.get("window")).toBe(5);
    win.value = win.min;                      // back to the lowest position: auto
    win.dispatchEvent(new Event("input"));
    win.dispatchEvent(new Event("change"));
    expect(model.get("window")).toBe(0);
    const budget = bar.el.querySelector("input.nbx-budget") as HTMLInputElement;
    expect(budget.value).toBe(budget.min);
    bar.destroy();
  });

  it("starts from the model's values", () => {
    const { bar } = mount({ steps: 120, rule: "riemann_left", layer: "conv1", budget: 1024 });
    expect((bar.el.querySelector("input.nbx-steps") as HTMLInputElement).value).toBe("120");
    expect((bar.el.querySelector("select.nbx-rule") as HTMLSelectElement).value).toBe("riemann_left");
    expect((bar.el.querySelector("select.nbx-layer") as HTMLSelectElement).value).toBe("conv1");
    expect((bar.el.querySelector("input.nbx-budget") as HTMLInputElement).dataset.value).toBe("1024");
  });

  it("method options come from method_choices (labels as text); layer offers auto first", () => {
    const { model, bar } = mount();
    const method = bar.el.querySelector("select.nbx-method") as HTMLSelectElement;
    expect(Array.from(method.options).map((o) => [o.value, o.textContent])).toContainEqual(["integrated_gradients", "Integrated gradients"]);
    const layer = bar.el.querySelector("select.nbx-layer") as HTMLSelectElement;
    expect(Array.from(layer.options).map((o) => [o.value, o.textContent])).toEqual([
      ["", "auto"],
      ["conv1", "conv1"],
      ["conv2", "conv2"],
    ]);
    model.set("method_choices", [{ name: "x", label: "<img src=x onerror=window.__p=1>", options: [] }]);
    expect(method.querySelector("img")).toBeNull();
    expect(method.options[0].textContent).toBe("<img src=x onerror=window.__p=1>");
  });

  const shownFor = (method: string, state: Record<string, unknown> = {}) => {
    const { model, bar } = mount({ method, ...state });
    bar.updateVisibility(ctxOf(model));
    return bar.controls.filter((c) => !c.el.classList.contains("nbx-hidden")).map((c) => c.spec.trait);
  };

  it("only the chosen method's option controls are shown", () => {
    const common = ["method", "baseline", "mix"];
    expect(shownFor("saliency")).toEqual(common);
    expect(shownFor("integrated_gradients")).toEqual(["method", "steps", "rule", "baseline", "mix", "alpha"]);
    expect(shownFor("smoothgrad")).toEqual(["method", "samples", "noise", "smooth_base", "baseline", "mix"]);
    expect(shownFor("shapley")).toEqual(["method", "budget", "grid", "baseline", "mix"]);
    expect(shownFor("occlusion")).toEqual(["method", "window", "stride", "baseline", "mix"]);
    expect(shownFor("grad_cam")).toEqual(["method", "layer", "baseline", "mix"]);
    expect(shownFor("saliency", { baseline: "blur" })).toEqual(["method", "baseline", "blur_sigma", "mix"]);
  });
});
