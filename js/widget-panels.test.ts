// @vitest-environment happy-dom
import { pictureDecoder } from "./lib/picture";
import { robustRange } from "./lib/normalize";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { HOSTILE, view, f32, bytesOf, baseState, mount, attribution, compareMsg, input, tick, hidden } from "./testing/widget-harness";

beforeEach(() => {
  document.body.replaceChildren();
  document.head.replaceChildren();
  delete (window as any).__p;
});


describe("brush", () => {
  /** A 4×4 image shown in a 280×280 box at (10, 20). */
  function brushState(): Record<string, any> {
    return { ...baseState(), image: view(new Uint8Array(48)), image_meta: { dtype: "uint8", shape: [4, 4, 3] } };
  }
  function pointer(canvas: HTMLElement, type: string, x: number, y: number) {
    canvas.dispatchEvent(new PointerEvent(type, { clientX: 10 + x * 70, clientY: 20 + y * 70, pointerId: 1, button: 0, bubbles: true }));
  }
  function setup() {
    const w = mount(brushState());
    const canvas = w.$<HTMLCanvasElement>("canvas.nbx-heatmap");
    canvas.getBoundingClientRect = () => ({ left: 10, top: 20, width: 280, height: 280, right: 290, bottom: 300, x: 10, y: 20, toJSON: () => ({}) }) as DOMRect;
    return { ...w, canvas };
  }

  it("paints the mask at the image raster, writes paint on pointerup", () => {
    const { model, $, canvas } = setup();
    const brush = $<HTMLButtonElement>("button.nbx-brush");
    expect(brush.getAttribute("aria-pressed")).toBe("false");
    pointer(canvas, "pointerdown", 0.5, 0.5); // not in paint mode: nothing
    pointer(canvas, "pointerup", 0.5, 0.5);
    expect(model.saves).toBe(0);
    brush.click();
    expect(brush.getAttribute("aria-pressed")).toBe("true");
    input($<HTMLInputElement>("input.nbx-brush-size"), "1"); // thinnest: the cells under the pointer
    pointer(canvas, "pointerdown", 0.5, 0.5);
    pointer(canvas, "pointermove", 3.5, 0.5);
    expect(model.saves).toBe(0); // written when the stroke ends
    pointer(canvas, "pointerup", 3.5, 0.5);
    expect(model.saves).toBe(1);
    const paint = model.get("paint") as DataView;
    expect(paint).toBeInstanceOf(DataView);
    expect(bytesOf(paint)).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect($("canvas.nbx-paint-overlay").dataset.painted).toBe("4");
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
  });

  it("the eraser clears cells; reset writes an empty DataView", () => {
    const { model, $, canvas } = setup();
    $<HTMLButtonElement>("button.nbx-brush").click();
    input($<HTMLInputElement>("input.nbx-brush-size"), "80"); // radius 40 px = 0.57 cells (70 px a cell)
    pointer(canvas, "pointerdown", 1.5, 1); // on the edge between rows 0 and 1 of column 1
    pointer(canvas, "pointerup", 1.5, 1);
    expect(bytesOf(model.get("paint"))).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const eraser = $<HTMLButtonElement>("button.nbx-eraser");
    eraser.click();
    expect(eraser.getAttribute("aria-pressed")).toBe("true");
    expect($<HTMLButtonElement>("button.nbx-brush").getAttribute("aria-pressed")).toBe("false");
    input($<HTMLInputElement>("input.nbx-brush-size"), "1");
    pointer(canvas, "pointerdown", 1.5, 1.5);
    pointer(canvas, "pointerup", 1.5, 1.5);
    expect(bytesOf(model.get("paint"))).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    $<HTMLButtonElement>("button.nbx-paint-reset").click();
    const empty = model.get("paint") as DataView;
    expect(empty).toBeInstanceOf(DataView);
    expect(empty.byteLength).toBe(0);
    expect($("canvas.nbx-paint-overlay").dataset.painted).toBe("0");
    expect(model.saves).toBe(3);
  });

  it("shows the kernel's paint", () => {
    const { model, $ } = setup();
    model.set("paint", view(new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])));
    expect($(".nbx-brush-tools").dataset.painted).toBe("3");
    expect(model.saves).toBe(0);
  });
});

describe("IG path scrubber", () => {
  function pathMsg(id: number, alpha = 0.5) {
    return {
      msg: {
        kind: "path",
        id,
        alpha,
        image_meta: { dtype: "uint8", shape: [2, 2, 3] },
        grad_meta: { dtype: "float32", shape: [2, 2] },
        accum_meta: { dtype: "float32", shape: [2, 2] },
      },
      buffers: [view(new Uint8Array(12).fill(100)), view(f32([1, -2, 3, 0])), view(f32([0.5, 0.5, -1, 0]))],
    };
  }

  it("draws the three canvases from the latest path message; stale ones are ignored", () => {
    const { model, root, $ } = mount({ ...baseState(), method: "integrated_gradients" });
    expect(hidden($("details[data-panel='path']"))).toBe(false);
    const p = pathMsg(4, 0.25);
    model.receive(p.msg, p.buffers);
    expect(root.dataset.pathsReceived).toBe("1");
    for (const sel of ["canvas.nbx-path-input", "canvas.nbx-path-grad", "canvas.nbx-path-accum"]) {
      expect($<HTMLCanvasElement>(sel).dataset.rasterWidth, sel).toBe("2");
      expect(hidden($(sel))).toBe(false);
    }
    expect($(".nbx-path").dataset.alpha).toBe("0.25");
    const stale = pathMsg(3, 0.9);
    model.receive(stale.msg, stale.buffers);
    expect(root.dataset.pathsReceived).toBe("1");
    expect(root.dataset.staleIgnored).toBe("1");
    expect($(".nbx-path").dataset.alpha).toBe("0.25");
    const same = pathMsg(4, 0.3); // ids equal to the newest are current
    model.receive(same.msg, same.buffers);
    expect(root.dataset.pathsReceived).toBe("2");
    // a path id is independent of the attribution ids
    const a = attribution(10, 3, [1, 2, 3, 4]);
    model.receive(a.msg, a.buffers);
    const next = pathMsg(5);
    model.receive(next.msg, next.buffers);
    expect(root.dataset.pathsReceived).toBe("3");
  });

  it("the completeness-error chart follows delta_curve", () => {
    const { model, $ } = mount({ ...baseState(), method: "integrated_gradients", delta_curve: [[10, 0.5], [20, -0.05]] });
    const svg = $("svg.nbx-delta-chart");
    expect(svg.getAttribute("data-points")).toBe("2");
    expect(svg.querySelectorAll("circle")).toHaveLength(2);
    model.set("delta_curve", [[10, 0.5], [20, -0.05], [40, 0.001]]);
    expect(svg.getAttribute("data-points")).toBe("3");
    expect(svg.querySelector("polyline")!.getAttribute("points")!.split(" ")).toHaveLength(3);
  });
});

describe("comparison", () => {
  it("a compared method that failed shows its error as text in its cell", () => {
    const { model, $ } = mount();
    tick($<HTMLInputElement>('input.nbx-compare-option[data-method="grad_cam"]'), true);
    model.receive({ kind: "compare", id: 3, method: "grad_cam", final: true, error: "grad_cam: NBExplainError: <b>no conv layer</b>" }, []);
    const note = $('.nbx-compare-cell[data-method="grad_cam"] .nbx-compare-cell-error');
    expect(note.textContent).toBe("grad_cam: NBExplainError: <b>no conv layer</b>");
    expect(note.querySelector("b")).toBeNull();
    const ok = compareMsg(4, "grad_cam", [0, 1, 2, 3], false);
    model.receive(ok.msg, ok.buffers);                     // a later map clears it
    expect($('.nbx-compare-cell[data-method="grad_cam"] .nbx-compare-cell-error')).toBeNull();
  });

  it("ticks write the full compare list; cells follow it; one shared normalisation", () => {
    const { model, root, $, $$ } = mount();
    const boxes = $$<HTMLInputElement>("input.nbx-compare-option");
    expect(boxes.map((b) => b.dataset.method)).toEqual(["saliency", "integrated_gradients", "smoothgrad", "shapley", "lime", "occlusion", "grad_cam"]);
    tick($<HTMLInputElement>('input.nbx-compare-option[data-method="occlusion"]'), true);
    expect(model.get("compare")).toEqual(["occlusion"]);
    tick($<HTMLInputElement>('input.nbx-compare-option[data-method="saliency"]'), true);
    expect(model.get("compare")).toEqual(["saliency", "occlusion"]);
    expect(model.saves).toBe(2);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    expect($$(".nbx-compare-cell").map((c) => c.dataset.method)).toEqual(["saliency", "occlusion"]);

    const a = compareMsg(7, "saliency", [0, 1, 2, 3], false);
    const b = compareMsg(7, "occlusion", [-8, 0, 0, 0], true);
    model.receive(a.msg, a.buffers);
    model.receive(b.msg, b.buffers);
    expect(root.dataset.compareReceived).toBe("2");
    expect($('canvas.nbx-compare-map[data-method="saliency"]').dataset.id).toBe("7");
    expect($('canvas.nbx-compare-map[data-method="occlusion"]').dataset.id).toBe("7");
    // shared: the robust range of both maps together, symmetric (one is signed)
    const expected = robustRange(new Float32Array([0, 1, 2, 3, -8, 0, 0, 0]), { signed: true, percentile: 99.5 });
    expect(Number($(".nbx-compare-grid").dataset.vmax)).toBeCloseTo(expected.vmax, 5);
    expect(Number($(".nbx-compare-grid").dataset.vmin)).toBeCloseTo(expected.vmin, 5);

    // stale compare message: ignored
    const old = compareMsg(6, "saliency", [9, 9, 9, 9]);
    model.receive(old.msg, old.buffers);
    expect(root.dataset.compareReceived).toBe("2");
    expect(root.dataset.staleIgnored).toBe("1");

    // untick: the cell goes, the list is written in full
    tick($<HTMLInputElement>('input.nbx-compare-option[data-method="saliency"]'), false);
    expect(model.get("compare")).toEqual(["occlusion"]);
    expect($$(".nbx-compare-cell").map((c) => c.dataset.method)).toEqual(["occlusion"]);
    // a map for a method no longer compared is not drawn
    const late = compareMsg(8, "saliency", [1, 1, 1, 1]);
    model.receive(late.msg, late.buffers);
    expect(root.dataset.compareReceived).toBe("2");
    expect($$(".nbx-compare-cell")).toHaveLength(1);

    // the kernel sets compare (Python): ticks and cells follow
    model.set("compare", ["lime", "grad_cam"]);
    expect($$<HTMLInputElement>("input.nbx-compare-option").filter((x) => x.checked).map((x) => x.dataset.method)).toEqual(["lime", "grad_cam"]);
    expect($$(".nbx-compare-cell").map((c) => c.dataset.method)).toEqual(["lime", "grad_cam"]);
  });

  it("the correlation table: method × method, two decimals, labels as text", () => {
    const { model, root, $, $$ } = mount({ ...baseState(), compare: ["saliency", "occlusion", "lime"] });
    model.receive({ kind: "correlations", id: 3, methods: ["saliency", "occlusion", "lime"], matrix: [[1, 0.123, -0.5], [0.123, 1, 0.987], [-0.5, 0.987, 1]] });
    expect(root.dataset.correlationsReceived).toBe("1");
    const table = $("table.nbx-correlations");
    expect(hidden(table)).toBe(false);
    const rows = $$("table.nbx-correlations tbody tr").map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => td.textContent));
    expect(rows).toEqual([
      ["1.00", "0.12", "-0.50"],
      ["0.12", "1.00", "0.99"],
      ["-0.50", "0.99", "1.00"],
    ]);
    expect(Array.from(table.querySelectorAll("thead th")).map((t) => t.textContent)).toEqual(["", "Saliency", "Occlusion", "LIME"]);
    // stale correlations are ignored
    model.receive({ kind: "correlations", id: 2, methods: ["saliency", "lime"], matrix: [[1, 0], [0, 1]] });
    expect(root.dataset.correlationsReceived).toBe("1");
    // unticking removes that row and column
    tick($<HTMLInputElement>('input.nbx-compare-option[data-method="lime"]'), false);
    expect($$("table.nbx-correlations tbody tr")).toHaveLength(2);
    // trait saves only (and "settle"), besides the view's one request for the maps at mount
    expect(model.sent.filter((s) => !["settle", "refresh"].includes((s as { kind?: string }).kind ?? ""))).toEqual([]);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind === "refresh")).toHaveLength(1);
  });
});

describe("thumbnail strip", () => {
  function stripState(labels: unknown[]): Record<string, any> {
    return {
      ...baseState(),
      thumbnails: view(new TextEncoder().encode("THUMBS")),
      thumbnails_meta: { n: 3, thumb: 2, encoding: "png", labels },
      index: 1,
    };
  }

  it("one button per example, its picture cropped, its label as text; a click sets index", async () => {
    const rgba = new Uint8ClampedArray(6 * 2 * 4).fill(200);
    const spy = vi.spyOn(pictureDecoder, "decode").mockResolvedValue({ rgba, w: 6, h: 2 });
    const { model, $, $$ } = mount(stripState(["cat", HOSTILE, "dog"]));
    const strip = $(".nbx-thumbs");
    expect(hidden(strip)).toBe(false);
    const buttons = $$<HTMLButtonElement>("button.nbx-thumb");
    expect(buttons.map((b) => b.dataset.index)).toEqual(["0", "1", "2"]);
    expect(buttons.map((b) => b.querySelector(".nbx-thumb-label")!.textContent)).toEqual(["cat", HOSTILE, "dog"]);
    expect(strip.querySelector("img")).toBeNull();
    expect(buttons.map((b) => b.getAttribute("aria-pressed"))).toEqual(["false", "true", "false"]);
    await Promise.resolve();
    await Promise.resolve();
    expect(spy).toHaveBeenCalledTimes(1);
    expect(buttons.map((b) => (b.querySelector("canvas") as HTMLCanvasElement).dataset.drawn)).toEqual(["true", "true", "true"]);
    expect((buttons[2].querySelector("canvas") as HTMLCanvasElement).width).toBe(2);
    buttons[2].click();
    expect(model.get("index")).toBe(2);
    expect(model.saves).toBe(1);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    expect(buttons.map((b) => b.getAttribute("aria-pressed"))).toEqual(["false", "false", "true"]);
    model.set("index", 0);
    expect(buttons.map((b) => b.getAttribute("aria-pressed"))).toEqual(["true", "false", "false"]);
    model.set("thumbnails_meta", { n: 1, thumb: 2, encoding: "png", labels: ["one"] });
    expect(hidden(strip)).toBe(true);
    expect($$("button.nbx-thumb")).toHaveLength(0);
    spy.mockRestore();
  });
});

describe("hostile strings stay text", () => {
  it("method labels, class labels, layer names, baselines, colour maps, compare labels, correlations, thumbnails", () => {
    const spy = vi.spyOn(pictureDecoder, "decode").mockResolvedValue({ rgba: new Uint8ClampedArray(8), w: 2, h: 1 });
    const choices = [
      { name: "saliency", label: HOSTILE, options: [] },
      { name: "grad_cam", label: `${HOSTILE}2`, options: ["layer"] },
    ];
    const { model, el, $$ } = mount({
      ...baseState(),
      method: "grad_cam",
      method_choices: choices,
      layer_choices: [HOSTILE],
      baseline_choices: ["black", HOSTILE],
      colormap_names: [HOSTILE],
      top_classes: [{ index: 3, label: HOSTILE, prob: 0.9 }],
      compare: ["saliency", "grad_cam"],
      thumbnails: view(new Uint8Array([1])),
      thumbnails_meta: { n: 2, thumb: 1, encoding: "png", labels: [HOSTILE, HOSTILE] },
      warning: HOSTILE,
    });
    model.receive({ kind: "correlations", id: 1, methods: ["saliency", "grad_cam"], matrix: [[1, 0.5], [0.5, 1]] });
    model.receive({ kind: "error", id: 1, error: HOSTILE });
    expect(el.querySelectorAll("img")).toHaveLength(0);
    expect(document.querySelectorAll("img")).toHaveLength(0);
    expect((window as any).__p).toBeUndefined();
    expect(el.textContent).toContain(HOSTILE);
    expect($$<HTMLOptionElement>("select.nbx-method option").map((o) => o.textContent)).toEqual([HOSTILE, `${HOSTILE}2`]);
    expect($$<HTMLOptionElement>("select.nbx-layer option").map((o) => o.textContent)).toEqual(["auto", HOSTILE]);
    expect($$(".nbx-compare-cell-label").map((l) => l.textContent)).toEqual([HOSTILE, `${HOSTILE}2`]);
    expect(el.querySelector(".nbx-caption")!.textContent).toContain(HOSTILE);
    expect($$(".nbx-thumb-label").map((l) => l.textContent)).toEqual([HOSTILE, HOSTILE]);
    spy.mockRestore();
  });
});

describe("comparison after a reload", () => {
  it("a new view with methods ticked asks the kernel for their maps again", () => {
    const { model } = mount({ ...baseState(), compare: ["saliency", "occlusion"] });
    expect(model.sent).toContainEqual({ kind: "refresh", what: "compare" });
    const { model: empty } = mount(baseState());
    expect(empty.sent.filter((s) => (s as { kind?: string }).kind === "refresh")).toEqual([]);
  });
});
