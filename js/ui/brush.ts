/**
 * The brush: paint (or erase) a mask on the heatmap canvas, written to the `paint` trait.
 *
 *   <div class="nbx-brush-tools">
 *     <button class="nbx-brush" aria-pressed>   paint mode
 *     <button class="nbx-eraser" aria-pressed>  erase mode
 *     <label> <input type="range" class="nbx-brush-size"> </label>   diameter in display px (local, not a trait)
 *     <button class="nbx-paint-reset">          clear the mask (writes an empty `paint`)
 *
 * In paint / erase mode a pointer drag on `canvas.nbx-heatmap` paints cells of the image
 * raster (`image_meta.shape[:2]`); on pointerup the mask is written (`paint` = DataView
 * over uint8 H×W, 1 = painted) and saved. The kernel's changes of `paint` are shown.
 * The math is in lib/paint.ts.
 */
import { settle, type BindableModel } from "../lib/bind";
import { brushRadius, clientToRaster, countPainted, maskFromBytes, maskToTrait, paintSegment } from "../lib/paint";
import type { HeatmapView } from "./heatmap";

export type BrushMode = "off" | "paint" | "erase";

export interface BrushOptions {
  model: BindableModel;
  view: HeatmapView;
  doc?: Document;
  /** Called after the mask was written to the trait. */
  onWrite?: (painted: number) => void;
}

function rasterDims(meta: unknown): { h: number; w: number } | null {
  const shape = meta && typeof meta === "object" ? (meta as { shape?: unknown }).shape : undefined;
  if (!Array.isArray(shape) || shape.length < 2) return null;
  const [h, w] = shape;
  return typeof h === "number" && typeof w === "number" && h > 0 && w > 0 ? { h, w } : null;
}

export class BrushTool {
  readonly el: HTMLDivElement;
  readonly brushButton: HTMLButtonElement;
  readonly eraserButton: HTMLButtonElement;
  readonly sizeInput: HTMLInputElement;
  readonly resetButton: HTMLButtonElement;
  private mode: BrushMode = "off";
  private mask: Uint8Array = new Uint8Array(0);
  private h = 0;
  private w = 0;
  private stroke: { id: number; x: number; y: number } | null = null;
  private writing = false;
  private readonly opts: BrushOptions;
  private readonly canvas: HTMLCanvasElement;
  private readonly cleanups: Array<() => void> = [];

  constructor(opts: BrushOptions) {
    this.opts = opts;
    const d = opts.doc ?? document;
    this.canvas = opts.view.canvas;
    this.el = d.createElement("div");
    this.el.className = "nbx-brush-tools";

    const button = (cls: string, text: string, title: string): HTMLButtonElement => {
      const b = d.createElement("button");
      b.type = "button";
      b.className = `nbx-tool ${cls}`;
      b.textContent = text;
      b.title = title;
      return b;
    };
    this.brushButton = button("nbx-brush", "Brush", "paint the area to replace by the baseline");
    this.eraserButton = button("nbx-eraser", "Eraser", "erase painted cells");
    this.resetButton = button("nbx-paint-reset", "Reset", "clear the painted mask");
    const sizeLabel = d.createElement("label");
    sizeLabel.className = "nbx-control nbx-brush-size-control";
    const sizeText = d.createElement("span");
    sizeText.className = "nbx-control-label";
    sizeText.textContent = "Size";
    this.sizeInput = d.createElement("input");
    this.sizeInput.type = "range";
    this.sizeInput.className = "nbx-brush-size";
    this.sizeInput.min = "1";
    this.sizeInput.max = "80";
    this.sizeInput.step = "1";
    this.sizeInput.value = "24";
    this.sizeInput.setAttribute("aria-label", "brush diameter in screen pixels");
    sizeLabel.append(sizeText, this.sizeInput);
    this.el.append(this.brushButton, this.eraserButton, sizeLabel, this.resetButton);

    this.listen(this.brushButton, "click", () => this.setMode(this.mode === "paint" ? "off" : "paint"));
    this.listen(this.eraserButton, "click", () => this.setMode(this.mode === "erase" ? "off" : "erase"));
    this.listen(this.resetButton, "click", () => this.reset());
    this.listen(this.canvas, "pointerdown", (e) => this.onDown(e as PointerEvent));
    this.listen(this.canvas, "pointermove", (e) => this.onMove(e as PointerEvent));
    this.listen(this.canvas, "pointerup", (e) => this.onUp(e as PointerEvent));
    this.listen(this.canvas, "pointercancel", (e) => this.onUp(e as PointerEvent));

    const onPaint = (): void => {
      if (!this.writing) this.loadFromModel();
    };
    const onMeta = (): void => this.loadFromModel();
    opts.model.on("change:paint", onPaint);
    opts.model.on("change:image_meta", onMeta);
    this.cleanups.push(() => opts.model.off("change:paint", onPaint), () => opts.model.off("change:image_meta", onMeta));

    this.setMode("off");
    this.loadFromModel();
  }

  private listen(target: EventTarget, type: string, fn: (e: Event) => void): void {
    target.addEventListener(type, fn);
    this.cleanups.push(() => target.removeEventListener(type, fn));
  }

  getMode(): BrushMode {
    return this.mode;
  }

  setMode(mode: BrushMode): void {
    this.mode = mode;
    this.brushButton.setAttribute("aria-pressed", String(mode === "paint"));
    this.eraserButton.setAttribute("aria-pressed", String(mode === "erase"));
    this.el.dataset.mode = mode;
    this.canvas.classList.toggle("nbx-painting", mode !== "off");
    if (mode === "off") this.stroke = null;
  }

  /** The current mask (h×w, 1 = painted). */
  getMask(): { mask: Uint8Array; h: number; w: number } {
    return { mask: this.mask, h: this.h, w: this.w };
  }

  /** Read the mask from the `paint` trait (for the raster of `image_meta`). */
  loadFromModel(): void {
    const dims = rasterDims(this.opts.model.get("image_meta"));
    this.h = dims?.h ?? 0;
    this.w = dims?.w ?? 0;
    this.mask = maskFromBytes(this.opts.model.get("paint"), this.h, this.w);
    this.stroke = null;
    this.show();
  }

  /** Clear the mask and write the empty `paint`. */
  reset(): void {
    this.mask.fill(0);
    this.stroke = null;
    this.show();
    this.write();
  }

  /** Hand the mask to the view and redraw its overlay. */
  private show(): void {
    this.opts.view.setPaint(this.mask, this.h, this.w);
    this.el.dataset.painted = String(countPainted(this.mask));
    this.opts.view.drawPaint();
  }

  private write(): void {
    const value = maskToTrait(this.mask);
    this.writing = true;
    try {
      this.opts.model.set("paint", value);
    } finally {
      this.writing = false;
    }
    this.opts.model.save_changes();
    settle(this.opts.model);
    this.opts.onWrite?.(countPainted(this.mask));
  }

  private position(e: PointerEvent): { x: number; y: number } | null {
    return clientToRaster(e.clientX, e.clientY, this.canvas.getBoundingClientRect(), this.w, this.h);
  }

  private radius(): number {
    const rect = this.canvas.getBoundingClientRect();
    return brushRadius(Number(this.sizeInput.value) || 1, rect.width, this.w);
  }

  private onDown(e: PointerEvent): void {
    if (this.mode === "off" || this.w === 0 || (e.button !== undefined && e.button > 0)) return;
    const p = this.position(e);
    if (!p) return;
    e.preventDefault();
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      /* not every host supports capture */
    }
    this.stroke = { id: e.pointerId, x: p.x, y: p.y };
    paintSegment(this.mask, this.w, this.h, p.x, p.y, p.x, p.y, this.radius(), this.mode === "paint" ? 1 : 0);
    this.show();
  }

  private onMove(e: PointerEvent): void {
    if (!this.stroke || this.mode === "off" || e.pointerId !== this.stroke.id) return;
    const p = this.position(e);
    if (!p) return;
    paintSegment(this.mask, this.w, this.h, this.stroke.x, this.stroke.y, p.x, p.y, this.radius(), this.mode === "paint" ? 1 : 0);
    this.stroke = { id: e.pointerId, x: p.x, y: p.y };
    this.show();
  }

  private onUp(e: PointerEvent): void {
    if (!this.stroke || e.pointerId !== this.stroke.id) return;
    this.onMove(e);
    this.stroke = null;
    try {
      this.canvas.releasePointerCapture(e.pointerId);
    } catch {
      /* fine */
    }
    this.write();
  }

  destroy(): void {
    for (const c of this.cleanups.splice(0)) c();
  }
}
