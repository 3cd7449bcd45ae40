/**
 * What the widget's vitest files share: a FakeModel with the image view's traits, a mounted
 * view, and the kernel's messages as the kernel sends them.
 */
import { FakeModel } from "./fake-model";
import widget from "../widget";
import { CHOICE_TRAITS, COMPUTE_DEFAULTS } from "./fixtures";

export const HOSTILE = "<img src=x onerror=window.__p=1>";

/** A DataView over `bytes` placed at an odd offset inside a larger buffer. */
export function view(bytes: Uint8Array, offset = 3): DataView {
  const big = new Uint8Array(offset + bytes.length + 5).fill(0xee);
  big.set(bytes, offset);
  return new DataView(big.buffer, offset, bytes.length);
}

export const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);
export const bytesOf = (dv: DataView): number[] => Array.from(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength));

export function baseState(): Record<string, any> {
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

export function mount(state: Record<string, any> = baseState()) {
  const model = new FakeModel(state);
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = widget.render({ model: model as any, el } as any) as () => void;
  const root = el.querySelector(".nbx-root") as HTMLElement;
  const $ = <E extends Element = HTMLElement>(sel: string) => el.querySelector(sel) as E;
  const $$ = <E extends Element = HTMLElement>(sel: string) => Array.from(el.querySelectorAll(sel)) as E[];
  return { model, el, root, cleanup, $, $$ };
}

export function attribution(id: number, target: number, values: number[], final = true, extra: Record<string, unknown> = {}) {
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

export function compareMsg(id: number, method: string, values: number[], signed = true) {
  return {
    msg: { kind: "compare", id, method, meta: { dtype: "float32", shape: [2, 2], masked: false, signed }, final: true },
    buffers: [view(f32(values))],
  };
}

export function input(el: HTMLInputElement | HTMLSelectElement, value: string, event: "input" | "change" = "input"): void {
  el.value = value;
  el.dispatchEvent(new Event(event, { bubbles: true }));
}

export function tick(box: HTMLInputElement, on: boolean): void {
  box.checked = on;
  box.dispatchEvent(new Event("change", { bubbles: true }));
}

export const hidden = (e: Element | null): boolean => {
  for (let n = e; n; n = n.parentElement) if (n.classList.contains("nbx-hidden")) return true;
  return false;
};

