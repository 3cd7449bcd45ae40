// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { checksum } from "./lib/codec";
import { robustRange } from "./lib/normalize";
import { pictureDecoder, type Picture } from "./lib/picture";
import { view, f32, baseState, mount, attribution, input, hidden } from "./testing/widget-harness";
import * as widgetModule from "./widget";
import widget from "./widget";

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
