// @vitest-environment happy-dom
import { beforeEach, describe, expect, it, vi } from "vitest";
import { checksum } from "./lib/codec";
import { pictureDecoder, type Picture } from "./lib/picture";
import { FakeModel } from "./testing/fake-model";
import widget from "./widget";

/** A DataView over `bytes` placed at an odd offset inside a larger buffer. */
function view(bytes: Uint8Array, offset = 3): DataView {
  const big = new Uint8Array(offset + bytes.length + 5).fill(0xee);
  big.set(bytes, offset);
  return new DataView(big.buffer, offset, bytes.length);
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

function baseState(): Record<string, any> {
  const img = new Uint8Array(2 * 2 * 3).map((_, i) => i * 20);
  const heat = f32([0, 1, 2, 3]);
  return {
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
    method: "saliency",
    opacity: 0.5,
    colormap: "auto",
    status: "idle",
    error: "",
    warning: "",
  };
}

function mount(state: Record<string, any> = baseState()) {
  const model = new FakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model: model as any, el }) as () => void;
  const root = el.querySelector(".nbx-root") as HTMLElement;
  return { model, el, root, cleanup };
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

beforeEach(() => {
  document.body.replaceChildren();
});

describe("widget render", () => {
  it("draws the trait state and sets the DOM hooks", () => {
    const { root, el } = mount();
    expect(root).not.toBeNull();
    expect(el.querySelector("canvas.nbx-heatmap")).not.toBeNull();
    expect(el.querySelector("input.nbx-opacity")).not.toBeNull();
    expect(root.dataset.status).toBe("idle");
    expect(root.dataset.target).toBe("3");
    expect(root.dataset.mapsReceived).toBe("1");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([0, 1, 2, 3])));
    expect((el.querySelector("input.nbx-opacity") as HTMLInputElement).value).toBe("0.5");
    const buttons = el.querySelectorAll(".nbx-class");
    expect(buttons).toHaveLength(2);
    expect(buttons[0].getAttribute("aria-pressed")).toBe("true");
    expect(el.querySelector("i")).toBeNull();
    expect(el.querySelector(".nbx-cbar-max")!.textContent).not.toBe("");
  });

  it("copes with empty and missing traits", () => {
    const { root, el } = mount({ image: new DataView(new ArrayBuffer(0)), heatmap: null, image_meta: {}, heatmap_meta: {} });
    expect(root.dataset.mapsReceived).toBe("0");
    expect(root.dataset.status).toBe("idle");
    expect(el.querySelector(".nbx-placeholder")!.textContent).toMatch(/Nothing to show/);
    expect(el.querySelectorAll(".nbx-class")).toHaveLength(0);
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

  it("a class click sends a request and marks the widget as computing", () => {
    const { model, root, el } = mount();
    (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click();
    expect(model.sent).toEqual([{ kind: "attribute", id: 1, target: 5, method: "saliency" }]);
    expect(root.dataset.status).toBe("computing");
    expect(el.querySelector('.nbx-class[data-index="5"]')!.getAttribute("aria-pressed")).toBe("true");
  });

  it("draws current attribution messages and ignores stale ones", () => {
    const { model, root, el } = mount();
    const click = (i: number) => (el.querySelector(`.nbx-class[data-index="${i}"]`) as HTMLButtonElement).click();
    click(5); // id 1
    click(3); // id 2
    const stale = attribution(1, 5, [9, 9, 9, 9]);
    model.receive(stale.msg, stale.buffers);
    expect(root.dataset.mapsReceived).toBe("1");
    expect(root.dataset.staleIgnored).toBe("1");

    const partial = attribution(2, 3, [1, -1, 0, 2], false);
    model.receive(partial.msg, partial.buffers);
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.status).toBe("computing");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([1, -1, 0, 2])));

    const final = attribution(2, 3, [4, -1, 0, 2], true, { delta: 0.001 });
    model.receive(final.msg, final.buffers);
    expect(root.dataset.mapsReceived).toBe("3");
    expect(root.dataset.mapChecksum).toBe(checksum(f32([4, -1, 0, 2])));
    expect(root.dataset.target).toBe("3");
    expect(root.dataset.status).toBe("idle");
    expect(el.querySelector(".nbx-caption")!.textContent).toContain("Δ");

    // A reply older than the newest one seen is stale too.
    model.receive(stale.msg, stale.buffers);
    expect(root.dataset.mapsReceived).toBe("3");
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

  it("shows a decode failure instead of throwing", () => {
    const { model, root, el } = mount();
    model.receive({ kind: "attribution", id: 5, target: 3, method: "m", meta: { dtype: "float32", shape: [4, 4] }, final: true }, [
      new DataView(new ArrayBuffer(8)),
    ]);
    expect(root.dataset.mapsReceived).toBe("1");
    expect(el.querySelector(".nbx-error")!.textContent).toMatch(/8 bytes/);
  });

  it("shows errors for the current request only, as text", () => {
    const { model, el, root } = mount();
    (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click(); // id 1
    (el.querySelector('.nbx-class[data-index="3"]') as HTMLButtonElement).click(); // id 2
    model.receive({ kind: "error", id: 1, error: "old failure" });
    const err = el.querySelector(".nbx-error") as HTMLElement;
    expect(err.getAttribute("role")).toBe("alert");
    expect(err.textContent).toBe("");
    model.receive({ kind: "error", id: 2, error: "<b>boom</b>" });
    expect(err.textContent).toBe("<b>boom</b>");
    expect(err.querySelector("b")).toBeNull();
    expect(root.dataset.status).toBe("idle");
  });

  it("shows progress for the current request", () => {
    const { model, el, root } = mount();
    (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click();
    model.receive({ kind: "progress", id: 1, done: 3, total: 10 });
    expect(el.querySelector(".nbx-status")!.textContent).toContain("3/10");
    expect(root.dataset.status).toBe("computing");
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
    expect(root.dataset.target).toBe("5");
    model.set("top_classes", [{ index: 9, label: "nine", prob: 1 }]);
    expect(Array.from(el.querySelectorAll(".nbx-class")).map((b) => b.getAttribute("data-index"))).toEqual(["9"]);
  });

  it("redraws once per batch of heatmap trait changes", async () => {
    const { model, root } = mount();
    const bytes = f32([5, 6, 7, 8, 9, 10]);
    model.setMany({
      heatmap: view(bytes),
      heatmap_meta: { dtype: "float32", shape: [2, 3], masked: false, signed: false, target: 5, method: "saliency", request_id: 4 },
      target: 5,
    });
    await Promise.resolve();
    expect(root.dataset.mapsReceived).toBe("2");
    expect(root.dataset.mapChecksum).toBe(checksum(bytes));
    expect(root.dataset.target).toBe("5");
  });

  it("does not count the final map twice when the kernel also stores it in the traits", async () => {
    const { model, el, root } = mount();
    (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click(); // id 1
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
      const { model, root, el } = mount(encodedState());
      (el.querySelector('.nbx-class[data-index="5"]') as HTMLButtonElement).click(); // id 1
      const msg = attribution(1, 5, [1, 2, 3, 4]);
      model.receive(msg.msg, msg.buffers);
      await release();
      expect(root.dataset.mapsReceived).toBe("1");
      expect(root.dataset.mapChecksum).toBe(checksum(f32([1, 2, 3, 4])));
      expect(root.dataset.target).toBe("5");
      // the kernel then stores the same request's map, compressed: the exact one stays
      model.setMany({ heatmap: tag("MAP"), heatmap_meta: { ...encodedState().heatmap_meta, target: 5, request_id: 1 } });
      await release();
      expect(root.dataset.mapsReceived).toBe("1");
      expect(root.dataset.mapChecksum).toBe(checksum(f32([1, 2, 3, 4])));
      spy.mockRestore();
    });
  });

  it("the opacity slider saves the trait without a kernel message", () => {
    const { model, el } = mount();
    const input = el.querySelector("input.nbx-opacity") as HTMLInputElement;
    input.value = "0.8";
    input.dispatchEvent(new Event("input"));
    expect(model.get("opacity")).toBe(0.8);
    expect(model.saves).toBe(1);
    expect(model.sent).toHaveLength(0);
    model.set("opacity", 0.25);
    expect(input.value).toBe("0.25");
    expect(model.saves).toBe(1); // the kernel's value is shown, not saved back
  });

  it("the colour-map select is bound to the colormap trait", () => {
    const { model, el } = mount();
    const select = el.querySelector("select.nbx-colormap") as HTMLSelectElement;
    select.value = "viridis";
    select.dispatchEvent(new Event("change"));
    expect(model.get("colormap")).toBe("viridis");
    model.set("colormap", "rdbu");
    expect(select.value).toBe("rdbu");
    expect((el.querySelector(".nbx-colorbar") as HTMLElement).dataset.cmap).toBe("rdbu");
  });

  it("cleanup removes every listener", async () => {
    const { model, cleanup, el } = mount();
    expect(model.listenerCount()).toBeGreaterThan(10);
    cleanup();
    expect(model.listenerCount()).toBe(0);
    expect(el.querySelector(".nbx-root")).toBeNull();
  });

  it("two views of one model share request ids", () => {
    const model = new FakeModel(baseState());
    const a = document.createElement("div");
    const b = document.createElement("div");
    widget.render({ model: model as any, el: a });
    widget.render({ model: model as any, el: b });
    (a.querySelector(".nbx-class") as HTMLButtonElement).click();
    (b.querySelector(".nbx-class") as HTMLButtonElement).click();
    expect(model.sent.map((m: any) => m.id)).toEqual([1, 2]);
  });
});
