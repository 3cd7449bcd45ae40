// @vitest-environment happy-dom
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checksum } from "../lib/codec";
import { FakeModel } from "../testing/fake-model";
import widget from "../widget";
import { viewKind } from "./shell";

const HOSTILE = "<img src=x onerror=window.__p=1>";
const f32 = (values: number[]): DataView => new DataView(new Float32Array(values).buffer);

function mount(state: Record<string, any>) {
  const model = new FakeModel({ status: "idle", error: "", warning: "", top_classes: [], target: 0, method_choices: [], colormap_names: [], ...state });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model: model as any, el } as any) as () => void;
  const root = () => el.querySelector(".nbx-root") as HTMLElement;
  const $ = <E extends Element = HTMLElement>(sel: string) => el.querySelector(sel) as E;
  const $$ = <E extends Element = HTMLElement>(sel: string) => Array.from(el.querySelectorAll(sel)) as E[];
  return { model, el, root, cleanup, $, $$ };
}

const settles = (model: FakeModel) => model.sent.filter((s) => (s as { kind?: string }).kind === "settle").length;
const hidden = (e: Element | null): boolean => {
  for (let n = e; n; n = n.parentElement) if (n.classList.contains("nbx-hidden") || (n as HTMLElement).hidden) return true;
  return false;
};

beforeEach(() => {
  document.body.replaceChildren();
  delete (window as any).__p;
});

describe("view dispatch", () => {
  it("viewKind: the four views by name, everything else the image view", () => {
    for (const v of ["table", "sequence", "text", "global"]) expect(viewKind(v)).toBe(v);
    for (const v of [undefined, null, "", "image", "Table", "bogus", 3, {}]) expect(viewKind(v)).toBe("image");
  });

  it("a missing, empty or unknown view is the image view, unchanged", () => {
    for (const view of [undefined, "", "image", "nope"]) {
      document.body.replaceChildren();
      const { root, $ } = mount(view === undefined ? {} : { view });
      expect(root().dataset.view).toBe("image");
      expect($("canvas.nbx-heatmap")).not.toBeNull();
      expect($('details.nbx-panel[data-panel="method"]')).not.toBeNull();
      expect($("svg.nbx-bars")).toBeNull();
    }
  });

  it("each view has its own root and content", () => {
    const cases: Array<[string, string]> = [
      ["table", "svg.nbx-bars"],
      ["sequence", "canvas.nbx-seq-map"],
      ["text", ".nbx-text"],
      ["global", "img.nbx-figure"],
    ];
    for (const [view, sel] of cases) {
      document.body.replaceChildren();
      const { root, $, el } = mount({ view });
      expect(el.querySelectorAll(".nbx-root")).toHaveLength(1);
      expect(root().dataset.view).toBe(view);
      expect(root().dataset.status).toBe("idle");
      expect($(sel), view).not.toBeNull();
      expect($("canvas.nbx-heatmap")).toBeNull();
    }
  });

  it("a change of `view` takes the old view down and draws the new one", () => {
    const { model, root, el, cleanup } = mount({ view: "text", tokens: ["a"] });
    const before = model.listenerCount();
    model.set("view", "global");
    expect(el.querySelectorAll(".nbx-root")).toHaveLength(1);
    expect(root().dataset.view).toBe("global");
    model.set("view", "");
    expect(root().dataset.view).toBe("image");
    model.set("view", "text");
    expect(model.listenerCount()).toBe(before);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".nbx-root")).toBeNull();
  });

  it("the shared parts: method picker from method_choices (settles), class list (settles), status line", () => {
    const { model, $, $$, root } = mount({
      view: "text",
      tokens: ["a"],
      method: "integrated_gradients",
      method_choices: [
        { name: "integrated_gradients", label: HOSTILE, options: [] },
        { name: "saliency", label: "Saliency", options: [] },
      ],
      top_classes: [
        { index: 0, label: "neg", prob: 0.2 },
        { index: 1, label: HOSTILE, prob: 0.8 },
      ],
      target: 1,
      warning: HOSTILE,
    });
    expect($$<HTMLOptionElement>("select.nbx-method option").map((o) => o.textContent)).toEqual([HOSTILE, "Saliency"]);
    const pick = $<HTMLSelectElement>("select.nbx-method");
    pick.value = "saliency";
    pick.dispatchEvent(new Event("change"));
    expect(model.get("method")).toBe("saliency");
    expect(settles(model)).toBe(1);
    ($$(".nbx-class")[0] as HTMLButtonElement).click();
    expect(model.get("target")).toBe(0);
    expect(settles(model)).toBe(2);
    expect($(".nbx-warning").textContent).toBe(HOSTILE);
    model.set("status", "computing");
    expect(root().dataset.status).toBe("computing");
    model.receive({ kind: "progress", id: 1, done: 3, total: 10 });
    expect($(".nbx-status").textContent).toContain("3/10");
    expect(document.querySelectorAll("img")).toHaveLength(0);
    expect((window as any).__p).toBeUndefined();
  });

  it("no method choices and no classes: no picker, no class list", () => {
    const { $ } = mount({ view: "global" });
    expect(hidden($("select.nbx-method"))).toBe(true);
    expect(hidden($(".nbx-classes"))).toBe(true);
  });
});

describe("sequence view", () => {
  const T = 4;
  const D = 3;
  // values[t][d]
  const V = [
    [0.1, -0.2, 0.3],
    [0.9, 0.0, -0.1],
    [-0.5, 0.4, 0.05],
    [0.2, 0.2, -0.7],
  ];
  const state = () => ({ view: "sequence", feature_names: ["temp", "load", HOSTILE], steps_labels: ["t0", "t1", "t2", "t3"], cursor: 0 });
  const attribution = (id: number, extra: Record<string, unknown> = {}) => ({
    msg: { kind: "attribution", id, target: 0, method: "saliency", meta: { dtype: "float32", shape: [T, D], masked: false, signed: true }, final: true, ...extra },
    buffers: [f32(V.flat())],
  });
  const bars = (el: HTMLElement) =>
    Array.from(el.querySelectorAll("svg.nbx-bars .nbx-bar")).map((b) => [b.getAttribute("data-feature"), Number(b.getAttribute("data-value"))]);

  it("draws the T×D map, the cursor and the bars of the cursor step", () => {
    const { model, root, $, el } = mount(state());
    expect(hidden($("canvas.nbx-seq-map"))).toBe(true);
    const a = attribution(2);
    model.receive(a.msg, a.buffers);
    expect(root().dataset.mapsReceived).toBe("1");
    expect(root().dataset.mapChecksum).toBe(checksum(a.buffers[0]));
    const canvas = $<HTMLCanvasElement>("canvas.nbx-seq-map");
    expect(hidden(canvas)).toBe(false);
    expect(canvas.width).toBe(T); // time on x
    expect(canvas.height).toBe(D); // features on y
    expect($(".nbx-seq-cursor").dataset.step).toBe("0");
    const b0 = bars(el);
    expect(b0.map(([f]) => f)).toEqual([HOSTILE, "load", "temp"]);
    expect(b0[0][1]).toBeCloseTo(0.3);
    expect(Number($(".nbx-cbar-max").textContent)).toBeCloseTo(0.9);
    model.set("cursor", 3);
    expect($(".nbx-seq-cursor").dataset.step).toBe("3");
    expect(bars(el).map(([f]) => f)).toEqual([HOSTILE, "temp", "load"]);
    expect($(".nbx-seq-step").textContent).toBe("step 3: t3");
    // stale messages are ignored
    const old = attribution(1);
    model.receive(old.msg, old.buffers);
    expect(root().dataset.staleIgnored).toBe("1");
    expect(el.querySelector("img")).toBeNull();
  });

  it("a click or a drag on the map moves the cursor (display-only: no settle); arrow keys too", () => {
    const { model, $, el } = mount(state());
    const a = attribution(1);
    model.receive(a.msg, a.buffers);
    const wrap = $(".nbx-seq-wrap");
    wrap.getBoundingClientRect = () => ({ left: 100, width: 400, top: 0, height: 54, right: 500, bottom: 54, x: 100, y: 0, toJSON: () => ({}) }) as DOMRect;
    wrap.dispatchEvent(new PointerEvent("pointerdown", { clientX: 100 + 150, bubbles: true }));
    expect(model.get("cursor")).toBe(1);
    expect($(".nbx-seq-cursor").dataset.step).toBe("1");
    expect(bars(el)[0][0]).toBe("temp");
    document.dispatchEvent(new PointerEvent("pointermove", { clientX: 100 + 390, bubbles: true }));
    expect(model.get("cursor")).toBe(3);
    document.dispatchEvent(new PointerEvent("pointerup", { clientX: 100 + 390, bubbles: true }));
    document.dispatchEvent(new PointerEvent("pointermove", { clientX: 100, bubbles: true }));
    expect(model.get("cursor")).toBe(3); // released: no more moves
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft", bubbles: true }));
    expect(model.get("cursor")).toBe(2);
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "End", bubbles: true }));
    expect(model.get("cursor")).toBe(3);
    wrap.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight", bubbles: true }));
    expect(model.get("cursor")).toBe(3);
    expect(model.saves).toBe(4);
    expect(settles(model)).toBe(0);
  });

  it("a malformed map is reported as text", () => {
    const { model, root } = mount(state());
    model.receive({ kind: "attribution", id: 1, meta: { dtype: "float32", shape: [T, D], masked: false, signed: true }, final: true }, [f32([1, 2])]);
    expect(root().querySelector(".nbx-error")!.textContent).toMatch(/Could not display/);
    expect(root().dataset.mapsReceived).toBe("0");
  });
});

describe("text view", () => {
  const TOKENS = ["[CLS]", "un", "##believ", "##able", "the", "cat", "<script>alert(1)</script>", "</span>", HOSTILE];
  const VALUES = [0, 0.5, -0.25, 1, -1, 0.1, 0.2, 0.3, 0.4];
  const attribution = (id: number, values = VALUES) => ({
    msg: { kind: "attribution", id, target: 1, method: "integrated_gradients", meta: { dtype: "float32", shape: [values.length], masked: false, signed: true }, final: true },
    buffers: [f32(values)],
  });

  it("draws the values the kernel kept in the `map` trait (a reload, a second display)", () => {
    const { root, $$ } = mount({ view: "text", tokens: ["a", "b"], token_ids: [1, 2], map: { shape: [2], values: [0.5, -0.25], signed: true, method: "integrated_gradients", target: 1 } });
    expect(root().dataset.mapsReceived).toBe("1");
    expect($$(".nbx-token").map((s) => Number(s.dataset.value))).toEqual([0.5, -0.25]);
  });

  it("one span per token, subwords joined, hostile tokens literal, signed colours", () => {
    const { model, root, $, $$, el } = mount({ view: "text", tokens: TOKENS, token_ids: TOKENS.map((_, i) => 100 + i) });
    const spans = $$(".nbx-token");
    expect(spans).toHaveLength(TOKENS.length);
    expect(spans.map((s) => s.textContent)).toEqual(["[CLS]", "un", "believ", "able", "the", "cat", "<script>alert(1)</script>", "</span>", HOSTILE]);
    expect($(".nbx-text").textContent).toBe(`[CLS] unbelievable the cat <script>alert(1)</script> </span> ${HOSTILE}`);
    expect(el.querySelector("script")).toBeNull();
    expect(el.querySelector("img")).toBeNull();
    expect((window as any).__p).toBeUndefined();
    expect(spans.every((s) => s.dataset.value === "")).toBe(true);

    const a = attribution(3);
    model.receive(a.msg, a.buffers);
    expect(root().dataset.mapsReceived).toBe("1");
    const after = $$(".nbx-token");
    expect(after.map((s) => Number(s.dataset.index))).toEqual(TOKENS.map((_, i) => i));
    expect(Number(after[1].dataset.value)).toBeCloseTo(0.5);
    // symmetric range: +1 and −1 get the two ends of the diverging table
    const pos = after[3].style.backgroundColor;
    const neg = after[4].style.backgroundColor;
    expect(pos).not.toBe("");
    expect(neg).not.toBe(pos);
    expect($(".nbx-cbar-min").textContent).toBe("-1");
    expect($(".nbx-cbar-max").textContent).toBe("1");
    // stale
    const old = attribution(2, VALUES.map(() => 9));
    model.receive(old.msg, old.buffers);
    expect($$(".nbx-token")[1].dataset.value).toBe("0.5");
    expect(root().dataset.staleIgnored).toBe("1");
  });

  it("the hover card shows the token as given (literal) and its value", () => {
    const { model, $, $$ } = mount({ view: "text", tokens: TOKENS, token_ids: TOKENS.map((_, i) => 100 + i) });
    const a = attribution(1);
    model.receive(a.msg, a.buffers);
    const card = $(".nbx-token-card");
    expect(hidden(card)).toBe(true);
    $$(".nbx-token")[2].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect(hidden(card)).toBe(false);
    expect(card.dataset.index).toBe("2");
    expect($(".nbx-token-card-token").textContent).toBe("##believ");
    expect($(".nbx-token-card-value").textContent).toBe("value: -0.25");
    expect($(".nbx-token-card-meta").textContent).toBe("token 2 · id 102");
    $$(".nbx-token")[8].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
    expect($(".nbx-token-card-token").textContent).toBe(HOSTILE);
    expect(card.querySelector("img")).toBeNull();
    $$(".nbx-token")[8].dispatchEvent(new MouseEvent("mouseout", { bubbles: true }));
    expect(hidden(card)).toBe(true);
  });

  it("an example picker from row_labels (text, verbatim) sets `index` and settles; one example shows none", () => {
    const { model, $, $$ } = mount({ view: "text", tokens: ["a", "b"], index: 0, row_labels: [`good ${HOSTILE}`, "bad plot"] });
    const sel = $<HTMLSelectElement>("select.nbx-row");
    expect(hidden(sel)).toBe(false);
    expect($$<HTMLOptionElement>("select.nbx-row option").map((o) => o.textContent)).toEqual([`good ${HOSTILE}`, "bad plot"]);
    sel.value = "1";
    sel.dispatchEvent(new Event("change"));
    expect(model.get("index")).toBe(1);
    expect(settles(model)).toBe(1);
    model.set("index", 0);
    expect(sel.value).toBe("0");
    model.set("row_labels", []);
    expect(hidden(sel)).toBe(true);
    expect((window as any).__p).toBeUndefined();
    const one = mount({ view: "sequence", index: 0, row_labels: [] });
    expect(hidden(one.$("select.nbx-row"))).toBe(true);
  });

  it("says so when the values do not match the tokens", () => {
    const { model, $ } = mount({ view: "text", tokens: ["a", "b"] });
    const a = attribution(1, [1, 2, 3]);
    model.receive(a.msg, a.buffers);
    expect($(".nbx-error").textContent).toMatch(/3 values for 2 tokens/);
  });
});

describe("global view", () => {
  const PNG = (n: number) => new DataView(new Uint8Array([137, 80, 78, 71, n]).buffer);
  let created: string[];
  let revoked: string[];
  beforeEach(() => {
    created = [];
    revoked = [];
    let k = 0;
    vi.spyOn(URL, "createObjectURL").mockImplementation(() => {
      const u = `blob:nbx-${++k}`;
      created.push(u);
      return u;
    });
    vi.spyOn(URL, "revokeObjectURL").mockImplementation((u: string) => {
      revoked.push(u);
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it("shows the figure from a blob URL and revokes the old URL on change and at cleanup", () => {
    const { model, $, root, cleanup } = mount({ view: "global", kind: "permutation_importance", figure: PNG(1), figure_meta: { width: 640, height: 480 }, feature_names: ["a", "b"] });
    const img = $<HTMLImageElement>("img.nbx-figure");
    expect(img.getAttribute("src")).toBe("blob:nbx-1");
    expect(img.width).toBe(640);
    expect(img.height).toBe(480);
    expect(root().dataset.kind).toBe("permutation_importance");
    expect(root().dataset.figureChecksum).toBe(checksum(PNG(1)));
    expect($(".nbx-figure-title").textContent).toBe("Permutation importance");
    expect(hidden($("select.nbx-feature"))).toBe(true);
    model.set("figure", PNG(2));
    expect(img.getAttribute("src")).toBe("blob:nbx-2");
    expect(revoked).toEqual(["blob:nbx-1"]);
    expect(root().dataset.figuresShown).toBe("2");
    model.set("figure", new DataView(new ArrayBuffer(0)));
    expect(revoked).toEqual(["blob:nbx-1", "blob:nbx-2"]);
    expect(hidden(img)).toBe(true);
    model.set("figure", PNG(3));
    cleanup();
    expect(revoked).toEqual(["blob:nbx-1", "blob:nbx-2", "blob:nbx-3"]);
  });

  it("partial dependence: a feature select from feature_names sets `feature` and settles", () => {
    const { model, $, $$ } = mount({ view: "global", kind: "partial_dependence", feature: "b", feature_names: ["a", "b", HOSTILE], figure: PNG(1) });
    const sel = $<HTMLSelectElement>("select.nbx-feature");
    expect(hidden(sel)).toBe(false);
    expect($$<HTMLOptionElement>("select.nbx-feature option").map((o) => o.textContent)).toEqual(["a", "b", HOSTILE]);
    expect(sel.value).toBe("b");
    sel.value = HOSTILE;
    sel.dispatchEvent(new Event("change"));
    expect(model.get("feature")).toBe(HOSTILE);
    expect(settles(model)).toBe(1);
    model.set("feature", "a");
    expect(sel.value).toBe("a");
    model.set("kind", "permutation_importance");
    expect(hidden(sel)).toBe(true);
    expect(document.querySelectorAll("img:not(.nbx-figure)")).toHaveLength(0);
    expect((window as any).__p).toBeUndefined();
  });

  it("a feature held as an index is written as an index", () => {
    const { model, $ } = mount({ view: "global", kind: "partial_dependence", feature: 0, feature_names: ["a", "b"] });
    const sel = $<HTMLSelectElement>("select.nbx-feature");
    expect(sel.value).toBe("a");
    sel.value = "b";
    sel.dispatchEvent(new Event("change"));
    expect(model.get("feature")).toBe(1);
  });
});
