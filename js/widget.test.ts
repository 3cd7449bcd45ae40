// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { checksum } from "./lib/codec";
import { robustRange } from "./lib/normalize";
import { pictureDecoder, type Picture } from "./lib/picture";
import { CHOICE_TRAITS, COMPUTE_DEFAULTS } from "./testing/fixtures";
import { FakeModel } from "./testing/fake-model";
import * as widgetModule from "./widget";
import widget from "./widget";

const HOSTILE = "<img src=x onerror=window.__p=1>";

/** A DataView over `bytes` placed at an odd offset inside a larger buffer. */
function view(bytes: Uint8Array, offset = 3): DataView {
  const big = new Uint8Array(offset + bytes.length + 5).fill(0xee);
  big.set(bytes, offset);
  return new DataView(big.buffer, offset, bytes.length);
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
const bytesOf = (dv: DataView): number[] => Array.from(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength));

function baseState(): Record<string, any> {
  const img = new Uint8Array(2 * 2 * 3).map((_, i) => i * 20);
  const heat = f32([0, 1, 2, 3]);
  return {
    ...CHOICE_TRAITS,
    ...COMPUTE_DEFAULTS,
    image: view(img),
    image_meta: { dtype: "uint8", shape: [2, 2, 3] },
    heatmap: view(heat, 8),
    heatmap_meta: { dtype: "float32", shape: [2, 2], masked: false, signed: false, target: 3, method: "saliency", request_id: 0 },
    heatmap_mask: new DataView(new ArrayBuffer(0)),
    top_classes: [
      { index: 3, label: "three", prob: 0.7 },
      { index: 5, label: "<i>five</i>", prob: 0.2 },
    ],
    target: 3,
    paint: new DataView(new ArrayBuffer(0)),
    colormap_names: [],
    colormap_lut: new DataView(new ArrayBuffer(0)),
    thumbnails: new DataView(new ArrayBuffer(0)),
    thumbnails_meta: { n: 1, thumb: 0, encoding: "png", labels: [] },
    delta_curve: [],
    opacity: 0.5,
    colormap: "auto",
    clip: 99.5,
    sign: "both",
    top_k: 100,
    show_uncertainty: false,
    status: "idle",
    error: "",
    warning: "",
  };
}

function mount(state: Record<string, any> = baseState()) {
  const model = new FakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model: model as any, el } as any) as () => void;
  const root = el.querySelector(".nbx-root") as HTMLElement;
  const $ = <E extends Element = HTMLElement>(sel: string) => el.querySelector(sel) as E;
  const $$ = <E extends Element = HTMLElement>(sel: string) => Array.from(el.querySelectorAll(sel)) as E[];
  return { model, el, root, cleanup, $, $$ };
}

function attribution(id: number, target: number, values: number[], final = true, extra: Record<string, unknown> = {}) {
  return {
    msg: {
      kind: "attribution",
      id,
      target,
      method: "saliency",
      meta: { dtype: "float32", shape: [2, 2], masked: false, signed: true },
      final,
      ...extra,
    },
    buffers: [view(f32(values), 1)],
  };
}

function compareMsg(id: number, method: string, values: number[], signed = true) {
  return {
    msg: { kind: "compare", id, method, meta: { dtype: "float32", shape: [2, 2], masked: false, signed }, final: true },
    buffers: [view(f32(values))],
  };
}

function input(el: HTMLInputElement | HTMLSelectElement, value: string, event: "input" | "change" = "input"): void {
  el.value = value;
  el.dispatchEvent(new Event(event, { bubbles: true }));
}

function tick(box: HTMLInputElement, on: boolean): void {
  box.checked = on;
  box.dispatchEvent(new Event("change", { bubbles: true }));
}

const hidden = (e: Element | null): boolean => {
  for (let n = e; n; n = n.parentElement) if (n.classList.contains("nbx-hidden")) return true;
  return false;
};

beforeEach(() => {
  document.body.replaceChildren();
  document.head.replaceChildren();
  delete (window as any).__p;
});

describe("widget module", () => {
  it("exports only a default { render } object", () => {
    expect(Object.keys(widgetModule)).toEqual(["default"]);
    expect(typeof widget.render).toBe("function");
  });

  it("injects no stylesheet into the document (the kernel passes widget.css as _css)", () => {
    mount();
    expect(document.head.querySelectorAll("style")).toHaveLength(0);
    expect(document.querySelectorAll("style")).toHaveLength(0);
  });
});

describe("widget render", () => {
  it("draws the trait state and sets the DOM hooks", () => {
    const { root, el, $ } = mount();
    expect(root).not.toBeNull();
    expect(el.querySelector("canvas.nbx-heatmap")).not.toBeNull();
    expect(el.querySelector("input.nbx-opacity")).not.toBeNull();
    expect(root.dataset.status).toBe("idle");
    expect(root.dataset.target).toBe("3");
    expect(root.dataset.method).toBe("saliency");
    expect(root.dataset.mapsReceived).toBe("1");
    expect(root.dataset.pathsReceived).toBe("0");
    expect(root.dataset.compareReceived).toBe("0");
    expect(root.dataset.staleIgnored).toBe("0");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([0, 1, 2, 3])));
    expect($<HTMLInputElement>("input.nbx-opacity").value).toBe("0.5");
    const buttons = el.querySelectorAll(".nbx-class");
    expect(buttons).toHaveLength(2);
    expect(buttons[0].getAttribute("aria-pressed")).toBe("true");
    expect(el.querySelector("i")).toBeNull();
    expect($(".nbx-cbar-max").textContent).not.toBe("");
  });

  it("lays the controls out in panels", () => {
    const { $ } = mount();
    for (const [panel, selectors] of [
      ["method", ["select.nbx-method", "input.nbx-steps", "select.nbx-rule", "input.nbx-budget", "select.nbx-layer", "svg.nbx-delta-chart"]],
      ["baseline", ["select.nbx-baseline", "input.nbx-blur-sigma", "input.nbx-mix", "button.nbx-brush", "button.nbx-eraser", "input.nbx-brush-size", "button.nbx-paint-reset"]],
      ["display", ["input.nbx-opacity", "select.nbx-colormap", "input.nbx-clip", "select.nbx-sign", "input.nbx-top-k", "input.nbx-show-uncertainty"]],
      ["path", ["input.nbx-alpha", "canvas.nbx-path-input", "canvas.nbx-path-grad", "canvas.nbx-path-accum"]],
      ["compare", ["div.nbx-compare-grid", "table.nbx-correlations"]],
    ] as const) {
      const details = $(`details.nbx-panel[data-panel="${panel}"]`) as HTMLDetailsElement;
      expect(details, panel).not.toBeNull();
      expect(details.open).toBe(true);
      for (const s of selectors) expect(details.querySelector(s), `${panel}: ${s}`).not.toBeNull();
    }
  });

  it("copes with empty and missing traits", () => {
    const { root, el } = mount({ image: new DataView(new ArrayBuffer(0)), heatmap: null, image_meta: {}, heatmap_meta: {} });
    expect(root.dataset.mapsReceived).toBe("0");
    expect(root.dataset.status).toBe("idle");
    expect(el.querySelector(".nbx-placeholder")!.textContent).toMatch(/Nothing to show/);
    expect(el.querySelectorAll(".nbx-class")).toHaveLength(0);
    expect(el.querySelectorAll(".nbx-thumb")).toHaveLength(0);
  });

  it("does not throw on malformed heatmap traits", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    const s = baseState();
    s.heatmap_meta = { ...s.heatmap_meta, shape: [3, 3] };
    const { root } = mount(s);
    expect(root.dataset.mapsReceived).toBe("0");
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it("a class click sets and saves the target trait; no message is sent", () => {
    const { model, el } = mount();
    (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click();
    expect(model.get("target")).toBe(5);
    expect(model.saves).toBe(1);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    expect(el.querySelector('.nbx-class[data-index="5"]')!.getAttribute("aria-pressed")).toBe("true");
    expect(el.querySelector('.nbx-class[data-index="3"]')!.getAttribute("aria-pressed")).toBe("false");
  });

  it("shows a message if its id >= the newest seen, and counts the stale ones", () => {
    const { model, root, el } = mount();
    const m3 = attribution(3, 5, [1, -1, 0, 2], false);
    model.receive(m3.msg, m3.buffers);
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.status).toBe("computing");
    expect(root.dataset.target).toBe("5");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([1, -1, 0, 2])));

    const old = attribution(2, 3, [9, 9, 9, 9]);
    model.receive(old.msg, old.buffers);
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.staleIgnored).toBe("1");
    expect(root.dataset.target).toBe("5");

    const final = attribution(3, 5, [4, -1, 0, 2], true, { delta: 0.001, method: "integrated_gradients" });
    model.receive(final.msg, final.buffers);
    expect(root.dataset.mapsReceived).toBe("3");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([4, -1, 0, 2])));
    expect(root.dataset.method).toBe("integrated_gradients");
    expect(root.dataset.status).toBe("idle");
    const caption = el.querySelector(".nbx-caption")!.textContent!;
    expect(caption).toContain("Δ = 0.001");
    expect(caption).toContain("Integrated gradients"); // the method's label

    const newer = attribution(4, 5, [1, 1, 1, 1]);
    model.receive(newer.msg, newer.buffers);
    expect(root.dataset.mapsReceived).toBe("4");
    model.receive(old.msg, old.buffers);
    expect(root.dataset.staleIgnored).toBe("2");
  });

  it("decodes masked float16 messages", () => {
    const { model, root } = mount();
    const half = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3c]);
    const mask = new Uint8Array([0, 0, 1, 0]);
    model.receive(
      { kind: "attribution", id: 0, target: 3, method: "saliency", meta: { dtype: "float16", shape: [2, 2], masked: true, signed: true }, final: true },
      [view(half, 1), view(mask, 2)],
    );
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.mapChecksum).toBe(checksum(half));
  });

  it("shows a decode failure as readable text instead of throwing", () => {
    const { model, root, el } = mount();
    model.receive({ kind: "attribution", id: 5, target: 3, method: "m", meta: { dtype: "float32", shape: [4, 4] }, final: true }, [
      new DataView(new ArrayBuffer(8)),
    ]);
    expect(root.dataset.mapsReceived).toBe("1");
    expect(el.querySelector(".nbx-error")!.textContent).toMatch(/8 bytes/);
    // the next good map clears it
    const ok = attribution(6, 3, [1, 2, 3, 4]);
    model.receive(ok.msg, ok.buffers);
    expect(el.querySelector(".nbx-error")!.textContent).toBe("");
  });

  it("shows errors of current jobs only, as text", () => {
    const { model, el, root } = mount();
    const m2 = attribution(2, 3, [1, 2, 3, 4], false);
    model.receive(m2.msg, m2.buffers);
    model.receive({ kind: "error", id: 1, error: "old failure" });
    const err = el.querySelector(".nbx-error") as HTMLElement;
    expect(err.getAttribute("role")).toBe("alert");
    expect(err.textContent).toBe("");
    model.receive({ kind: "error", id: 2, error: "<b>boom</b>" });
    expect(err.textContent).toBe("<b>boom</b>");
    expect(err.querySelector("b")).toBeNull();
    expect(root.dataset.status).toBe("idle");
  });

  it("shows progress of current jobs", () => {
    const { model, el, root } = mount();
    model.receive({ kind: "progress", id: 1, done: 3, total: 10 });
    expect(el.querySelector(".nbx-status")!.textContent).toContain("3/10");
    expect(root.dataset.status).toBe("computing");
    const m5 = attribution(5, 3, [1, 2, 3, 4], false);
    model.receive(m5.msg, m5.buffers);
    model.receive({ kind: "progress", id: 4, done: 9, total: 10 });
    expect(el.querySelector(".nbx-status")!.textContent).not.toContain("9/10");
  });

  it("follows trait changes (status, error, warning, target, top_classes)", () => {
    const { model, el, root } = mount();
    model.set("status", "computing");
    expect(root.dataset.status).toBe("computing");
    model.set("warning", "<script>x</script> masked 3 values");
    expect(el.querySelector(".nbx-warning")!.textContent).toBe("<script>x</script> masked 3 values");
    expect(el.querySelector("script")).toBeNull();
    model.set("error", "bad target");
    expect(el.querySelector(".nbx-error")!.textContent).toBe("bad target");
    model.set("target", 5);
    expect(el.querySelector('.nbx-class[data-index="5"]')!.getAttribute("aria-pressed")).toBe("true");
    expect(root.dataset.target).toBe("3"); // the map on screen is still class 3's
    model.set("top_classes", [{ index: 9, label: "nine", prob: 1 }]);
    expect(Array.from(el.querySelectorAll(".nbx-class")).map((b) => b.getAttribute("data-index"))).toEqual(["9"]);
  });

  it("redraws once per batch of heatmap trait changes", async () => {
    const { model, root } = mount();
    const bytes = f32([5, 6, 7, 8, 9, 10]);
    model.setMany({
      heatmap: view(bytes),
      heatmap_meta: { dtype: "float32", shape: [2, 3], masked: false, signed: false, target: 5, method: "occlusion", request_id: 4 },
      target: 5,
    });
    await Promise.resolve();
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.mapChecksum).toBe(checksum(bytes));
    expect(root.dataset.target).toBe("5");
    expect(root.dataset.method).toBe("occlusion");
  });

  it("does not count the final map twice when the kernel also stores it in the traits", async () => {
    const { model, root } = mount();
    const values = [1, 2, 3, 5];
    const final = attribution(1, 5, values);
    model.receive(final.msg, final.buffers);
    expect(root.dataset.mapsReceived).toBe("2");
    model.setMany({
      heatmap: view(f32(values)),
      heatmap_meta: { dtype: "float32", shape: [2, 2], masked: false, signed: true, target: 5, method: "saliency", request_id: 1 },
      target: 5,
      status: "idle",
    });
    await Promise.resolve();
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.target).toBe("5");
    expect(root.dataset.status).toBe("idle");
  });

  it("ignores trait maps older than the message on screen", async () => {
    const { model, root } = mount();
    const fresh = attribution(7, 3, [1, 2, 3, 4]);
    model.receive(fresh.msg, fresh.buffers);
    expect(root.dataset.mapsReceived).toBe("2");
    model.setMany({
      heatmap: view(f32([0, 0, 0, 1])),
      heatmap_meta: { dtype: "float32", shape: [2, 2], masked: false, signed: false, target: 5, method: "saliency", request_id: 6 },
    });
    await Promise.resolve();
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([1, 2, 3, 4])));
  });

  describe("pictures in the traits (a saved notebook's compressed state)", () => {
    /** A grey picture whose red channel is `levels`; decoding resolves when `release()` runs. */
    function grey(levels: number[], w: number): Picture {
      const rgba = new Uint8ClampedArray(levels.length * 4);
      levels.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
      return { rgba, w, h: levels.length / w };
    }
    function stubDecoder(pictures: Record<string, Picture>) {
      const pending: Array<() => void> = [];
      const spy = vi.spyOn(pictureDecoder, "decode").mockImplementation(
        (bytes) =>
          new Promise((resolve) => {
            const key = String.fromCharCode(...new Uint8Array((bytes as DataView).buffer, (bytes as DataView).byteOffset, (bytes as DataView).byteLength));
            pending.push(() => resolve(pictures[key]));
          }),
      );
      const release = async () => {
        while (pending.length) pending.shift()!();
        for (let i = 0; i < 5; i++) await Promise.resolve();
      };
      return { spy, release };
    }
    const tag = (s: string) => view(new TextEncoder().encode(s));
    function encodedState(): Record<string, any> {
      return {
        ...baseState(),
        image: tag("IMG"),
        image_meta: { dtype: "uint8", shape: [2, 2, 3], encoding: "webp" },
        heatmap: tag("MAP"),
        heatmap_meta: { dtype: "uint8", shape: [2, 2], encoding: "png", lo: -2, hi: 2, masked: true, signed: true, target: 3, method: "saliency", request_id: 0 },
        heatmap_mask: tag("MASK"),
      };
    }

    it("draws the decoded image and map, levels mapped to values, masked cells masked", async () => {
      const { release, spy } = stubDecoder({ IMG: grey([10, 20, 30, 40], 2), MAP: grey([0, 255, 51, 128], 2), MASK: grey([0, 0, 1, 0], 2) });
      const { root, el } = mount(encodedState());
      expect(root.dataset.mapsReceived).toBe("0"); // not yet decoded
      await release();
      expect(spy).toHaveBeenCalledTimes(3);
      expect(root.dataset.mapsReceived).toBe("1");
      expect(el.querySelector(".nbx-cbar-max")!.textContent).not.toBe("");
      spy.mockRestore();
    });

    it("a map from a message is not replaced by a slower trait decode", async () => {
      const { release, spy } = stubDecoder({ IMG: grey([10, 20, 30, 40], 2), MAP: grey([0, 255, 51, 128], 2), MASK: grey([0, 0, 0, 0], 2) });
      const { model, root } = mount(encodedState());
      const msg = attribution(1, 5, [1, 2, 3, 4]);
      model.receive(msg.msg, msg.buffers);
      await release();
      expect(root.dataset.mapsReceived).toBe("1");
      expect(root.dataset.mapChecksum).toBe(checksum(f32([1, 2, 3, 4])));
      expect(root.dataset.target).toBe("5");
      // the kernel then stores the same job's map, compressed: the exact one stays
      model.setMany({ heatmap: tag("MAP"), heatmap_meta: { ...encodedState().heatmap_meta, target: 5, request_id: 1 } });
      await release();
      expect(root.dataset.mapsReceived).toBe("1");
      expect(root.dataset.mapChecksum).toBe(checksum(f32([1, 2, 3, 4])));
      spy.mockRestore();
    });
  });

  it("cleanup removes every listener", () => {
    const { model, cleanup, el } = mount();
    expect(model.listenerCount()).toBeGreaterThan(30);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".nbx-root")).toBeNull();
  });

  it("two views of one model both show each message", () => {
    const a = mount();
    const model = a.model;
    const b = document.createElement("div");
    widget.render({ model: model as any, el: b } as any);
    const m = attribution(4, 3, [1, 2, 3, 4]);
    model.receive(m.msg, m.buffers);
    expect(a.root.dataset.mapsReceived).toBe("2");
    expect((b.querySelector(".nbx-root") as HTMLElement).dataset.mapsReceived).toBe("2");
  });
});

describe("method picker and option controls", () => {
  it("shows only the chosen method's options; the path panel and the delta chart only for IG", () => {
    const { model, $ } = mount();
    const method = $<HTMLSelectElement>("select.nbx-method");
    expect(method.value).toBe("saliency");
    expect(hidden($("input.nbx-steps"))).toBe(true);
    expect(hidden($("details[data-panel='path']"))).toBe(true);
    expect(hidden($("svg.nbx-delta-chart"))).toBe(true);
    input(method, "integrated_gradients", "change");
    expect(model.get("method")).toBe("integrated_gradients");
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    expect(hidden($("input.nbx-steps"))).toBe(false);
    expect(hidden($("select.nbx-rule"))).toBe(false);
    expect(hidden($("input.nbx-samples"))).toBe(true);
    expect(hidden($("input.nbx-alpha"))).toBe(false);
    expect(hidden($("svg.nbx-delta-chart"))).toBe(false);
    model.set("method", "smoothgrad"); // Python set it
    expect(method.value).toBe("smoothgrad");
    expect(hidden($("input.nbx-steps"))).toBe(true);
    expect(hidden($("input.nbx-samples"))).toBe(false);
    expect(hidden($("select.nbx-smooth-base"))).toBe(false);
    expect(hidden($("details[data-panel='path']"))).toBe(true);
  });

  it("sliders write their trait while dragged (live, no Apply)", () => {
    const { model, $ } = mount({ ...baseState(), method: "integrated_gradients" });
    input($<HTMLInputElement>("input.nbx-steps"), "120");
    expect(model.get("steps")).toBe(120);
    input($<HTMLInputElement>("input.nbx-alpha"), "0.3");
    expect(model.get("alpha")).toBe(0.3);
    input($<HTMLSelectElement>("select.nbx-baseline"), "blur", "change");
    expect(model.get("baseline")).toBe("blur");
    expect(hidden($("input.nbx-blur-sigma"))).toBe(false);
    input($<HTMLInputElement>("input.nbx-mix"), "0.4");
    expect(model.get("mix")).toBe(0.4);
    expect(model.saves).toBe(4);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    model.set("steps", 7);
    expect($<HTMLInputElement>("input.nbx-steps").value).toBe("7");
  });
});

describe("display controls (browser-only redraws)", () => {
  /** Kernel tables: inferno = (i, i, i), viridis = (0, i, 0), RdBu_r = (255 - i, 0, i). */
  function lutState(): Record<string, any> {
    const bytes = new Uint8Array(3 * 768);
    for (let i = 0; i < 256; i++) {
      bytes.set([i, i, i], i * 3);
      bytes.set([0, i, 0], 768 + i * 3);
      bytes.set([255 - i, 0, i], 1536 + i * 3);
    }
    return { ...baseState(), colormap_names: ["inferno", "viridis", "RdBu_r"], colormap_lut: view(bytes) };
  }

  it("colour map options = auto + colormap_names; tables from colormap_lut; auto by sign", () => {
    const { model, $ } = mount(lutState());
    const select = $<HTMLSelectElement>("select.nbx-colormap");
    expect(Array.from(select.options).map((o) => o.value)).toEqual(["auto", "inferno", "viridis", "RdBu_r"]);
    const cbar = $(".nbx-colorbar");
    expect(cbar.dataset.cmap).toBe("inferno"); // the trait map is unsigned
    const signed = attribution(1, 3, [-1, 0, 1, 2]);
    model.receive(signed.msg, signed.buffers);
    expect(cbar.dataset.cmap).toBe("RdBu_r");
    expect(cbar.style.background).toContain("rgb(255, 0, 0) 0.00%");
    input(select, "viridis", "change");
    expect(model.get("colormap")).toBe("viridis");
    expect(cbar.dataset.cmap).toBe("viridis");
    model.set("colormap_names", ["inferno", "magma"]);
    expect(Array.from(select.options).map((o) => o.value)).toEqual(["auto", "inferno", "magma"]);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
  });

  it("clip, sign and top-k save their trait and redraw, sending nothing", () => {
    const { model, $, $$ } = mount(lutState());
    const m = attribution(1, 3, [-4, 1, 2, 3]);
    model.receive(m.msg, m.buffers);
    const max = () => Number($(".nbx-cbar-max").textContent);
    expect(max()).toBeCloseTo(robustRange(new Float32Array([-4, 1, 2, 3]), { signed: true, percentile: 99.5 }).vmax, 2);
    input($<HTMLInputElement>("input.nbx-clip"), "90");
    expect(model.get("clip")).toBe(90);
    expect(max()).toBeCloseTo(robustRange(new Float32Array([-4, 1, 2, 3]), { signed: true, percentile: 90 }).vmax, 2);
    input($<HTMLSelectElement>("select.nbx-sign"), "negative", "change");
    expect(model.get("sign")).toBe("negative");
    expect($(".nbx-colorbar").dataset.cmap).toBe("inferno"); // magnitudes: sequential
    expect($(".nbx-cbar-min").textContent).toBe("0");
    input($<HTMLInputElement>("input.nbx-top-k"), "25");
    expect(model.get("top_k")).toBe(25);
    expect(model.saves).toBe(3);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    // the kernel (Python) sets one: the control and the drawing follow, nothing is saved back
    model.set("sign", "both");
    expect($<HTMLSelectElement>("select.nbx-sign").value).toBe("both");
    expect($(".nbx-colorbar").dataset.cmap).toBe("RdBu_r");
    expect(model.saves).toBe(3);
    expect($$(".nbx-control").length).toBeGreaterThan(10);
  });

  it("uncertainty: the toggle is shown for Shapley and draws the uncertainty buffer", () => {
    const { model, $ } = mount({ ...baseState(), method: "shapley" });
    const toggle = $<HTMLInputElement>("input.nbx-show-uncertainty");
    expect(hidden(toggle)).toBe(false);
    model.receive(
      { kind: "attribution", id: 2, target: 3, method: "shapley", meta: { dtype: "float32", shape: [2, 2], masked: false, signed: true }, final: true, uncertainty: true },
      [view(f32([1, -1, 2, 0])), view(f32([0.1, 0.2, 0.3, 0.4]))],
    );
    expect($(".nbx-view").dataset.layer).toBe("values");
    toggle.checked = true;
    toggle.dispatchEvent(new Event("change"));
    expect(model.get("show_uncertainty")).toBe(true);
    expect($(".nbx-view").dataset.layer).toBe("uncertainty");
    expect($(".nbx-cbar-min").textContent).toBe("0");
    expect(Number($(".nbx-cbar-max").textContent)).toBeCloseTo(0.4, 2);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    // with the mask buffer too: [values, mask, uncertainty]
    model.receive(
      { kind: "attribution", id: 3, target: 3, method: "shapley", meta: { dtype: "float32", shape: [2, 2], masked: true, signed: true }, final: true, uncertainty: true },
      [view(f32([1, -1, 2, 0])), view(new Uint8Array([0, 0, 0, 1])), view(f32([1, 2, 3, 8]))],
    );
    expect(Number($(".nbx-cbar-max").textContent)).toBeCloseTo(3, 1); // the masked 8 does not count
  });
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
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
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
