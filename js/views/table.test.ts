// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from "vitest";
import { getLut } from "../lib/colormap";
import { lutCss } from "../lib/bars";
import { FakeModel } from "../testing/fake-model";
import widget from "../widget";
import { barLayout } from "./bar-chart";

const HOSTILE = "<img src=x onerror=window.__p=1>";
const NAMES = ["age", "income", HOSTILE, "height", "weight"];
const VALUES = [0.1, -0.5, 0.3, 0.05, -0.2];

function tableState(extra: Record<string, unknown> = {}): Record<string, any> {
  return {
    view: "table",
    feature_names: NAMES,
    rows: [
      [30, 50000, 1, 170, 70],
      [40, 60000, 0, 180, null],
      [50, 70000, 1, 190, 90],
    ],
    row: 0,
    budget: 0,
    estimator: "auto",
    top_k: 5,
    waterfall: false,
    summary: false,
    baseline: {},
    baseline_kind: "mean",
    background_stats: {
      mean: [35, 55000, 0.5, 175, 72],
      median: [34, 54000, 0, 176, 71],
      min: [20, 30000, 0, 150, 50],
      max: [60, 90000, 1, 200, 100],
    },
    method: "shapley",
    method_choices: [
      { name: "shapley", label: "Shapley", options: ["budget", "estimator"] },
      { name: "lime", label: "LIME", options: ["budget"] },
      { name: "gradient_x_input", label: "Gradient × input", options: [] },
    ],
    top_classes: [
      { index: 0, label: "no", prob: 0.3 },
      { index: 1, label: "yes", prob: 0.7 },
    ],
    target: 1,
    colormap_names: [],
    colormap_lut: new DataView(new ArrayBuffer(0)),
    status: "idle",
    error: "",
    warning: "",
    ...extra,
  };
}

function mount(state: Record<string, any> = tableState()) {
  const model = new FakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model: model as any, el } as any) as () => void;
  const root = el.querySelector(".nbx-root") as HTMLElement;
  const $ = <E extends Element = HTMLElement>(sel: string) => el.querySelector(sel) as E;
  const $$ = <E extends Element = HTMLElement>(sel: string) => Array.from(el.querySelectorAll(sel)) as E[];
  return { model, el, root, cleanup, $, $$ };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function bars(id: number, values = VALUES, extra: Record<string, unknown> = {}) {
  return {
    kind: "bars",
    id,
    row: 0,
    method: "shapley",
    target: 1,
    final: true,
    values,
    base_value: 0.5,
    prediction: 0.5 + sum(values),
    ci_low: null,
    ci_high: null,
    baseline: [35, 55000, 0.5, 175, 72],
    ...extra,
  };
}

const settles = (model: FakeModel) => model.sent.filter((s) => (s as { kind?: string }).kind === "settle").length;
const barFeatures = (root: HTMLElement) => Array.from(root.querySelectorAll("svg.nbx-bars .nbx-bar")).map((b) => b.getAttribute("data-feature"));
const hidden = (e: Element | null): boolean => {
  for (let n = e; n; n = n.parentElement) if (n.classList.contains("nbx-hidden") || (n as HTMLElement).hidden) return true;
  return false;
};
const handleOf = (root: HTMLElement, name: string) =>
  Array.from(root.querySelectorAll(".nbx-baseline-handle")).find((h) => h.getAttribute("data-feature") === name) as SVGElement;

function input(el: HTMLInputElement | HTMLSelectElement, value: string, event: "input" | "change" = "input"): void {
  el.value = value;
  el.dispatchEvent(new Event(event, { bubbles: true }));
}

function tick(box: HTMLInputElement, on: boolean): void {
  box.checked = on;
  box.dispatchEvent(new Event("change", { bubbles: true }));
}

beforeEach(() => {
  document.body.replaceChildren();
  delete (window as any).__p;
});

describe("table view: layout and controls", () => {
  it("renders the table view with its controls, not the image view", () => {
    const { root, $, $$ } = mount();
    expect(root.dataset.view).toBe("table");
    expect(root.dataset.status).toBe("idle");
    expect(root.dataset.barsReceived).toBe("0");
    expect(root.dataset.summaryReceived).toBe("0");
    expect($("canvas.nbx-heatmap")).toBeNull();
    expect($("svg.nbx-bars")).not.toBeNull();
    for (const sel of ["select.nbx-method", "select.nbx-row", "input.nbx-budget", "select.nbx-estimator", "select.nbx-baseline-kind", "input.nbx-summary", "input.nbx-top-k", "input.nbx-waterfall"]) {
      expect($(sel), sel).not.toBeNull();
    }
    expect($$<HTMLOptionElement>("select.nbx-row option").map((o) => o.textContent)).toEqual(["row 0", "row 1", "row 2"]);
    expect($$<HTMLOptionElement>("select.nbx-method option").map((o) => o.value)).toEqual(["shapley", "lime", "gradient_x_input"]);
    expect($$(".nbx-class")).toHaveLength(2);
  });

  it("the estimator is shown for Shapley only; the budget for the methods that take one", () => {
    const { model, $ } = mount();
    expect(hidden($("select.nbx-estimator"))).toBe(false);
    expect(hidden($("input.nbx-budget"))).toBe(false);
    input($<HTMLSelectElement>("select.nbx-method"), "lime", "change");
    expect(model.get("method")).toBe("lime");
    expect(settles(model)).toBe(1);
    expect(hidden($("select.nbx-estimator"))).toBe(true);
    expect(hidden($("input.nbx-budget"))).toBe(false);
    model.set("method", "gradient_x_input");
    expect(hidden($("input.nbx-budget"))).toBe(true);
  });

  it("the budget slider is logarithmic with auto (0) at its lowest position, like the image view's", () => {
    const { model, $ } = mount();
    const b = $<HTMLInputElement>("input.nbx-budget");
    expect(b.dataset.scale).toBe("log");
    expect(b.min).toBe("-1");
    expect(b.value).toBe("-1");
    expect(b.closest(".nbx-control")!.querySelector(".nbx-control-value")!.textContent).toBe("auto");
    input(b, "1000");
    expect(model.get("budget")).toBe(8192);
    b.dispatchEvent(new Event("change"));
    expect(settles(model)).toBe(1);
  });

  it("the row picker writes an int and settles; a class click sets target and settles", () => {
    const { model, $, el } = mount();
    input($<HTMLSelectElement>("select.nbx-row"), "2", "change");
    expect(model.get("row")).toBe(2);
    expect(settles(model)).toBe(1);
    model.set("row", 1);
    expect($<HTMLSelectElement>("select.nbx-row").value).toBe("1");
    (el.querySelector('.nbx-class[data-index="0"]') as HTMLButtonElement).click();
    expect(model.get("target")).toBe(0);
    expect(settles(model)).toBe(2);
  });

  it("estimator, baseline kind and summary are compute traits (settle); top_k and waterfall are display-only", () => {
    const { model, $ } = mount();
    input($<HTMLSelectElement>("select.nbx-estimator"), "kernel", "change");
    expect(model.get("estimator")).toBe("kernel");
    input($<HTMLSelectElement>("select.nbx-baseline-kind"), "median", "change");
    expect(model.get("baseline_kind")).toBe("median");
    tick($<HTMLInputElement>("input.nbx-summary"), true);
    expect(model.get("summary")).toBe(true);
    expect(settles(model)).toBe(3);
    input($<HTMLInputElement>("input.nbx-top-k"), "2");
    tick($<HTMLInputElement>("input.nbx-waterfall"), true);
    expect(model.get("top_k")).toBe(2);
    expect(model.get("waterfall")).toBe(true);
    expect(settles(model)).toBe(3);
  });
});

describe("table view: bars", () => {
  it("draws the bars the kernel kept in the `bars` trait (a reload, a second display)", () => {
    const kept = { ...bars(9) } as Record<string, unknown>;
    delete kept.id;
    const { root } = mount(tableState({ bars: kept }));
    expect(root.dataset.barsReceived).toBe("1");
    expect(barFeatures(root)).toEqual(["income", HOSTILE, "weight", "age", "height"]);
  });

  it("sorts the bars by |value| and labels each feature with the row's value", () => {
    const { model, root, $$ } = mount();
    model.receive(bars(1));
    expect(root.dataset.barsReceived).toBe("1");
    expect(root.dataset.method).toBe("shapley");
    expect(root.dataset.target).toBe("1");
    expect(barFeatures(root)).toEqual(["income", HOSTILE, "weight", "age", "height"]);
    const values = $$("svg.nbx-bars .nbx-bar").map((b) => Number(b.getAttribute("data-value")));
    expect(values).toEqual([-0.5, 0.3, -0.2, 0.1, 0.05]);
    const labels = $$("svg.nbx-bars text.nbx-bar-label").map((t) => t.firstChild!.textContent);
    expect(labels).toEqual(["income = 50000", "<img src=x onerror=… = 1", "weight = 70", "age = 30", "height = 170"]);
    // the full label in the tooltip
    expect($$("svg.nbx-bars text.nbx-bar-label")[1].querySelector("title")!.textContent).toBe(`${HOSTILE} = 1`);
    // signed colours from the diverging table's ends
    const pos = $$("svg.nbx-bars .nbx-bar.nbx-pos").map((b) => b.getAttribute("fill"));
    const neg = $$("svg.nbx-bars .nbx-bar.nbx-neg").map((b) => b.getAttribute("fill"));
    expect(new Set(pos).size).toBe(1);
    expect(new Set(neg).size).toBe(1);
    expect(pos[0]).not.toBe(neg[0]);
    // a row change relabels from that row
    model.receive(bars(2, VALUES, { row: 1 }));
    expect(root.dataset.row).toBe("1");
    expect($$("svg.nbx-bars text.nbx-bar-label").map((t) => t.firstChild!.textContent)).toContain("weight = nan");
  });

  it("folds all but the top k into one 'k others' bar holding their sum", () => {
    const { model, root, $, $$ } = mount(tableState({ top_k: 2 }));
    model.receive(bars(1));
    expect(barFeatures(root)).toEqual(["income", HOSTILE, null]);
    const others = $("svg.nbx-bars .nbx-bar.nbx-others");
    expect(others.getAttribute("data-others")).toBe("3");
    expect(Number(others.getAttribute("data-value"))).toBeCloseTo(-0.2 + 0.1 + 0.05, 12);
    expect($$("svg.nbx-bars text.nbx-bar-label").map((t) => t.firstChild!.textContent)).toContain("3 others");
    // the slider: display-only, redraws at once; its end is the number of features
    const k = $<HTMLInputElement>("input.nbx-top-k");
    expect(k.max).toBe("5");
    input(k, "4");
    expect(barFeatures(root)).toEqual(["income", HOSTILE, "weight", "age", null]);
    expect($("svg.nbx-bars .nbx-others").getAttribute("data-others")).toBe("1");
    expect(Number($("svg.nbx-bars .nbx-others").getAttribute("data-value"))).toBeCloseTo(0.05);
    model.set("top_k", 5);
    expect($("svg.nbx-bars .nbx-others")).toBeNull();
    expect(settles(model)).toBe(0);
  });

  it("waterfall: cumulative from the base value (bottom) to the prediction (top), with the sum check", () => {
    const { model, root, $, $$ } = mount(tableState({ top_k: 3 }));
    model.receive(bars(1));
    expect(hidden($(".nbx-sum-check"))).toBe(true);
    tick($<HTMLInputElement>("input.nbx-waterfall"), true);
    expect(model.get("waterfall")).toBe(true);
    const rects = $$("svg.nbx-bars .nbx-bar");
    expect(rects.map((r) => r.getAttribute("data-feature"))).toEqual(["income", HOSTILE, "weight", null]);
    const start = rects.map((r) => Number(r.getAttribute("data-start")));
    const end = rects.map((r) => Number(r.getAttribute("data-end")));
    // bottom: the folded bar (0.1 + 0.05) starts at the base value
    expect(start[3]).toBeCloseTo(0.5);
    expect(end[3]).toBeCloseTo(0.65);
    expect(start[2]).toBeCloseTo(0.65);
    expect(end[2]).toBeCloseTo(0.45);
    expect(end[1]).toBeCloseTo(0.75);
    expect(end[0]).toBeCloseTo(0.25);
    expect(end[0]).toBeCloseTo(0.5 + sum(VALUES));
    for (let i = 0; i < 3; i++) expect(end[i + 1]).toBeCloseTo(start[i]);
    expect($("svg.nbx-bars line.nbx-base-line").getAttribute("data-value")).toBe("0.5");
    const check = $(".nbx-sum-check");
    expect(hidden(check)).toBe(false);
    expect(check.dataset.ok).toBe("true");
    expect(Number(check.dataset.sum)).toBeCloseTo(sum(VALUES));
    expect(check.textContent).toMatch(/sum = .*prediction − base/);
    expect(hidden($(".nbx-sum-warning"))).toBe(true);
    expect(root.getAttribute("data-waterfall")).toBeNull();
    // attributions that do not add up: the warning
    model.receive(bars(2, VALUES, { prediction: 0.5 + sum(VALUES) + 0.01 }));
    expect($(".nbx-sum-check").dataset.ok).toBe("false");
    expect(hidden($(".nbx-sum-warning"))).toBe(false);
    expect($(".nbx-sum-warning").textContent).toMatch(/do not add up/);
    // within 1e-6 of the scale: no warning
    model.receive(bars(3, VALUES, { prediction: 0.5 + sum(VALUES) + 1e-9 }));
    expect(hidden($(".nbx-sum-warning"))).toBe(true);
    // back to bars: no steps
    model.set("waterfall", false);
    expect($("svg.nbx-bars .nbx-bar").getAttribute("data-start")).toBeNull();
  });

  it("draws Shapley's intervals as error bars that follow the newest partial message", () => {
    const { model, root, $, $$ } = mount();
    const wide = { final: false, ci_low: VALUES.map((v) => v - 0.2), ci_high: VALUES.map((v) => v + 0.2), progress: [64, 256] };
    model.receive(bars(4, VALUES, wide));
    expect(root.dataset.status).toBe("computing");
    expect(root.dataset.barsFinal).toBe("false");
    expect($(".nbx-statusline .nbx-status").textContent).toContain("64/256");
    const errs = $$("svg.nbx-bars path.nbx-errbar");
    expect(errs).toHaveLength(5);
    const age = errs.find((e) => e.getAttribute("data-feature") === "age")!;
    expect(Number(age.getAttribute("data-low"))).toBeCloseTo(-0.1);
    expect(Number(age.getAttribute("data-high"))).toBeCloseTo(0.3);
    const width = (e: Element) => {
      const m = /^M([-\d.e]+),[-\d.e]+H([-\d.e]+)/.exec(e.getAttribute("d")!)!;
      return Number(m[2]) - Number(m[1]);
    };
    const w1 = width(age);
    // narrower intervals of the same job
    model.receive(bars(4, VALUES, { ...wide, ci_low: VALUES.map((v) => v - 0.05), ci_high: VALUES.map((v) => v + 0.05), progress: [256, 256], final: true }));
    expect(root.dataset.barsReceived).toBe("2");
    expect(root.dataset.status).toBe("idle");
    const age2 = $$("svg.nbx-bars path.nbx-errbar").find((e) => e.getAttribute("data-feature") === "age")!;
    expect(Number(age2.getAttribute("data-high"))).toBeCloseTo(0.15);
    expect(width(age2)).toBeLessThan(w1);
    // no intervals: no error bars
    model.receive(bars(5));
    expect($$("svg.nbx-bars path.nbx-errbar")).toHaveLength(0);
  });

  it("newest id wins per kind: older bars and summaries are ignored and counted", () => {
    const { model, root, $$ } = mount(tableState({ summary: true }));
    model.receive(bars(5, [1, 0, 0, 0, 0]));
    model.receive(bars(4, [0, 0, 0, 0, 9]));
    expect(root.dataset.barsReceived).toBe("1");
    expect(root.dataset.staleIgnored).toBe("1");
    expect(barFeatures(root)[0]).toBe("age");
    model.receive(bars(5, [0, 2, 0, 0, 0], { final: false }));
    expect(barFeatures(root)[0]).toBe("income");
    expect(root.dataset.barsReceived).toBe("2");
    // summary ids are their own kind
    const summary = (id: number, v: number) => ({ kind: "summary", id, values: [[v, 0, 0, 0, 0]], feature_values: [[1, 2, 3, 4, 5]] });
    model.receive(summary(2, 0.5));
    expect(root.dataset.summaryReceived).toBe("1");
    model.receive(summary(1, 0.9));
    expect(root.dataset.summaryReceived).toBe("1");
    expect(root.dataset.staleIgnored).toBe("2");
    expect($$("circle.nbx-dot").find((d) => d.getAttribute("data-feature") === "age")!.getAttribute("data-value")).toBe("0.5");
    // an error of an older job is not shown
    model.receive({ kind: "error", id: 3, error: "old" });
    expect(root.querySelector(".nbx-error")!.textContent).toBe("");
    model.receive({ kind: "error", id: 6, error: "boom" });
    expect(root.querySelector(".nbx-error")!.textContent).toBe("boom");
  });

  it("a malformed bars message is reported as text, not thrown", () => {
    const { model, root } = mount();
    model.receive({ kind: "bars", id: 1, values: "nope" });
    expect(root.querySelector(".nbx-error")!.textContent).toMatch(/without values/);
    expect(root.dataset.barsReceived).toBe("0");
  });
});

describe("table view: baselines", () => {
  const L = barLayout([], { handles: true });
  const at = (t: number) => L.hx0 + t * (L.hx1 - L.hx0);

  it("each feature bar has a handle at its baseline on the background's min..max axis", () => {
    const { model, root } = mount(tableState({ baseline: { height: 180 } }));
    model.receive(bars(1));
    const age = handleOf(root, "age");
    expect(age.getAttribute("data-value")).toBe("35");
    expect(age.getAttribute("data-min")).toBe("20");
    expect(age.getAttribute("data-max")).toBe("60");
    expect(age.getAttribute("role")).toBe("slider");
    expect(Number(age.getAttribute("x")) + 4.5).toBeCloseTo(at(15 / 40));
    expect(handleOf(root, "height").getAttribute("data-value")).toBe("180");
    expect(handleOf(root, "height").getAttribute("data-custom")).toBe("true");
    // the median when baseline_kind says so
    model.set("baseline_kind", "median");
    expect(handleOf(root, "age").getAttribute("data-value")).toBe("34");
  });

  it("dragging a handle writes the baseline dict on release and settles", () => {
    const { model, root, $$ } = mount(tableState({ baseline: { height: 180 } }));
    model.receive(bars(1));
    const h = handleOf(root, "age");
    h.dispatchEvent(new PointerEvent("pointerdown", { clientX: at(15 / 40), bubbles: true, pointerId: 7 }));
    expect(root.dataset.dragging).toBe("age");
    document.dispatchEvent(new PointerEvent("pointermove", { clientX: at(0.5), bubbles: true, pointerId: 7 }));
    expect(handleOf(root, "age").getAttribute("data-value")).toBe("40");
    expect(model.get("baseline")).toEqual({ height: 180 }); // nothing written while dragging
    expect(settles(model)).toBe(0);
    document.dispatchEvent(new PointerEvent("pointerup", { clientX: at(0.25), bubbles: true, pointerId: 7 }));
    expect(model.get("baseline")).toEqual({ height: 180, age: 30 });
    expect(model.saves).toBe(1);
    expect(settles(model)).toBe(1);
    expect(root.dataset.dragging).toBeUndefined();
    expect(handleOf(root, "age").getAttribute("data-value")).toBe("30");
    // its chip
    const chips = $$(".nbx-chip");
    expect(chips.map((c) => c.getAttribute("data-feature"))).toEqual(["height", "age"]);
    expect(chips[1].querySelector(".nbx-chip-text")!.textContent).toBe("age: 30");
    // clamped to the axis; a click without a move writes nothing
    const h2 = handleOf(root, "age");
    h2.dispatchEvent(new PointerEvent("pointerdown", { clientX: 0, bubbles: true, pointerId: 8 }));
    document.dispatchEvent(new PointerEvent("pointerup", { clientX: 0, bubbles: true, pointerId: 8 }));
    expect(settles(model)).toBe(1);
    handleOf(root, "age").dispatchEvent(new PointerEvent("pointerdown", { clientX: at(0.25), bubbles: true, pointerId: 9 }));
    document.dispatchEvent(new PointerEvent("pointermove", { clientX: 99999, bubbles: true, pointerId: 9 }));
    document.dispatchEvent(new PointerEvent("pointerup", { clientX: 99999, bubbles: true, pointerId: 9 }));
    expect(model.get("baseline")).toEqual({ height: 180, age: 60 });
  });

  it("arrow keys on a focused handle move it by 1% of the range and write", () => {
    const { model, root } = mount();
    model.receive(bars(1));
    const h = handleOf(root, "income");
    (h as unknown as HTMLElement).focus();
    h.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(model.get("baseline")).toEqual({ income: 55600 });
    expect(settles(model)).toBe(1);
    // the redrawn handle keeps the focus
    expect((document.activeElement as Element).getAttribute("data-feature")).toBe("income");
    handleOf(root, "income").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    handleOf(root, "income").dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    expect(model.get("baseline")).toEqual({ income: 54400 });
    handleOf(root, "income").dispatchEvent(new KeyboardEvent("keydown", { key: "x", bubbles: true }));
    expect(settles(model)).toBe(3);
  });

  it("a chip's × removes that feature's custom baseline", () => {
    const { model, root, $$ } = mount(tableState({ baseline: { age: 25, income: 40000 } }));
    model.receive(bars(1));
    expect($$(".nbx-chip").map((c) => c.getAttribute("data-feature"))).toEqual(["age", "income"]);
    ($$(".nbx-chip")[0].querySelector("button.nbx-chip-remove") as HTMLButtonElement).click();
    expect(model.get("baseline")).toEqual({ income: 40000 });
    expect(settles(model)).toBe(1);
    expect($$(".nbx-chip").map((c) => c.getAttribute("data-feature"))).toEqual(["income"]);
    expect(handleOf(root, "age").getAttribute("data-value")).toBe("35");
    ($$(".nbx-chip")[0].querySelector("button.nbx-chip-remove") as HTMLButtonElement).click();
    expect(model.get("baseline")).toEqual({});
    expect(hidden(root.querySelector(".nbx-chips"))).toBe(true);
  });
});

describe("table view: beeswarm summary", () => {
  const summaryMsg = (id: number) => ({
    kind: "summary",
    id,
    values: [
      [0.1, -0.5, 0.3, 0.05, -0.2],
      [0.2, -0.4, null, 0.0, -0.1],
      [0.3, 0.5, 0.1, -0.05, 0.2],
    ],
    feature_values: [
      [20, 30000, 0, 150, 50],
      [40, 60000, 1, 150, null],
      [60, 90000, 1, 150, 100],
    ],
  });

  it("one dot per row per feature, coloured by the feature's value normalised per feature", () => {
    const { model, root, $, $$ } = mount(tableState({ summary: true }));
    expect(hidden($("svg.nbx-beeswarm"))).toBe(true);
    expect($(".nbx-summary-note").textContent).toMatch(/Computing/);
    model.receive(summaryMsg(1));
    expect(root.dataset.summaryReceived).toBe("1");
    expect(hidden($("svg.nbx-beeswarm"))).toBe(false);
    const dots = $$("svg.nbx-beeswarm circle.nbx-dot");
    // 3 rows × 5 features, but the one null attribution has no position
    expect(dots).toHaveLength(14);
    const keys = dots.map((d) => `${d.getAttribute("data-row")}|${d.getAttribute("data-feature")}`);
    expect(new Set(keys).size).toBe(14);
    for (let r = 0; r < 3; r++) for (const n of NAMES) if (!(r === 1 && n === HOSTILE)) expect(keys).toContain(`${r}|${n}`);
    const dot = (r: number, n: string) => dots.find((d) => d.getAttribute("data-row") === String(r) && d.getAttribute("data-feature") === n)!;
    const lut = getLut("rdbu");
    expect(dot(0, "age").getAttribute("fill")).toBe(lutCss(lut, 0));
    expect(dot(1, "age").getAttribute("fill")).toBe(lutCss(lut, 128));
    expect(dot(2, "age").getAttribute("fill")).toBe(lutCss(lut, 255));
    expect(dot(0, "height").getAttribute("fill")).toBe(lutCss(lut, 128)); // a constant feature: the middle
    expect(dot(1, "weight").classList.contains("nbx-dot-nan")).toBe(true);
    // x by attribution: larger attributions further right
    expect(Number(dot(2, "age").getAttribute("cx"))).toBeGreaterThan(Number(dot(0, "age").getAttribute("cx")));
    // rows of features by mean |attribution|: income first
    expect($("svg.nbx-beeswarm text.nbx-bar-label").getAttribute("data-feature")).toBe("income");
    // deterministic jitter: the same message draws the same dots
    const before = dots.map((d) => d.getAttribute("cy"));
    model.receive(summaryMsg(2));
    expect($$("svg.nbx-beeswarm circle.nbx-dot").map((d) => d.getAttribute("cy"))).toEqual(before);
    // unticked: hidden
    tick($<HTMLInputElement>("input.nbx-summary"), false);
    expect(hidden($("svg.nbx-beeswarm"))).toBe(true);
  });
});

describe("table view: hostile strings stay text", () => {
  it("feature names, labels and chips", () => {
    const { model, el, $$ } = mount(tableState({ baseline: { [HOSTILE]: 0.5 }, summary: true, top_classes: [{ index: 0, label: HOSTILE, prob: 1 }] }));
    model.receive(bars(1));
    model.receive({ kind: "summary", id: 2, values: [VALUES], feature_values: [[1, 2, 3, 4, 5]] });
    expect(el.querySelector("img")).toBeNull();
    expect(document.querySelectorAll("img")).toHaveLength(0);
    expect((window as any).__p).toBeUndefined();
    expect($$(".nbx-chip")[0].getAttribute("data-feature")).toBe(HOSTILE);
    expect($$(".nbx-chip-text")[0].textContent).toBe(`${HOSTILE}: 0.5`);
    expect(el.textContent).toContain(HOSTILE);
    expect(handleOf(el as HTMLElement, HOSTILE).getAttribute("data-value")).toBe("0.5");
  });
});

describe("table view: cleanup", () => {
  it("removes every model listener and the DOM", () => {
    const { model, cleanup, el } = mount();
    expect(model.listenerCount()).toBeGreaterThan(10);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".nbx-root")).toBeNull();
  });
});
