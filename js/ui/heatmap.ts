/**
 * The composite view: one `<canvas class="nbx-heatmap">` showing the input
 * image scaled to the display size with the heatmap blended over it at the
 * current opacity (blended in JS, so the canvas pixels change with opacity),
 * a `<canvas class="nbx-paint-overlay">` over it showing the painted mask as a
 * translucent hatch, and a colour bar with min/max labels.
 *
 * The display settings (colour map, clip, sign, top-k, uncertainty) live here; the
 * comparison grid and the path canvases read them (`settings()`, `lutSource()`).
 */
import { cssGradientOf, resolveLut, resolveSequentialLut, type LutSource, type ResolvedLut } from "../lib/colormap";
import { colorizePrepared, displayRange, prepareMap, SIGN_MODES, type MapData, type PreparedMap, type SignMode } from "../lib/display";
import { composite, fitSize, resampleMap } from "../lib/draw";
import { formatValue } from "../lib/format";
import { countPainted, maskToRGBA } from "../lib/paint";
import type { Range } from "../lib/normalize";

export interface ImageRaster {
  rgba: Uint8ClampedArray;
  h: number;
  w: number;
}

export interface HeatmapData extends MapData {
  /** Shapley: the per-cell 95% CI half-width (same H×W), when the message carried one. */
  uncertainty?: Float32Array | null;
  /** Cells of the uncertainty map with no bounded interval (1), or null. */
  uncertaintyMask?: Uint8Array | null;
}

/** The display-only settings (the traits of DISPLAY_CONTROLS but opacity). */
export interface DisplaySettings {
  colormap: string;
  clip: number;
  sign: SignMode;
  topK: number;
  showUncertainty: boolean;
}

export const DISPLAY_SIZE = 280;
/** Colour of the painted-mask overlay. */
export const PAINT_RGB = [0, 190, 255] as const;
/** Its hatch lines: darker, so that they read over light and dark images. */
const HATCH_CSS = "rgba(0, 70, 140, 0.95)";

export class HeatmapView {
  readonly el: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  /** The painted mask's hatch, over `canvas` (pointer events go through to `canvas`). */
  readonly overlay: HTMLCanvasElement;
  private readonly wrap: HTMLDivElement;
  private readonly placeholder: HTMLDivElement;
  private readonly cbarRow: HTMLDivElement;
  private readonly cbar: HTMLDivElement;
  private readonly cbarMin: HTMLSpanElement;
  private readonly cbarMax: HTMLSpanElement;

  private image: ImageRaster | null = null;
  private map: HeatmapData | null = null;
  private opacity = 0.5;
  private message = "";
  private display: DisplaySettings = { colormap: "auto", clip: 99.5, sign: "both", topK: 100, showUncertainty: false };
  private luts: LutSource | null = null;
  private paint: { mask: Uint8Array; h: number; w: number } | null = null;

  // Caches, invalidated by the setters.
  private prepared: { map: PreparedMap; range: Range; cmap: ResolvedLut; layer: "values" | "uncertainty" } | null = null;
  private heatRGBA: Uint8ClampedArray | null = null;
  private blend: Uint8ClampedArray | null = null;
  private raster: HTMLCanvasElement | null = null;

  constructor(doc: Document = document) {
    this.el = doc.createElement("div");
    this.el.className = "nbx-view";

    this.wrap = doc.createElement("div");
    this.wrap.className = "nbx-canvas-wrap";
    this.canvas = doc.createElement("canvas");
    this.canvas.className = "nbx-heatmap";
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", "attribution heatmap over the input");
    this.overlay = doc.createElement("canvas");
    this.overlay.className = "nbx-paint-overlay";
    this.overlay.setAttribute("aria-hidden", "true");
    this.placeholder = doc.createElement("div");
    this.placeholder.className = "nbx-placeholder";
    this.wrap.append(this.canvas, this.overlay, this.placeholder);

    this.cbarRow = doc.createElement("div");
    this.cbarRow.className = "nbx-colorbar-row";
    this.cbarMin = doc.createElement("span");
    this.cbarMin.className = "nbx-cbar-min";
    this.cbar = doc.createElement("div");
    this.cbar.className = "nbx-colorbar";
    this.cbar.setAttribute("aria-hidden", "true");
    this.cbarMax = doc.createElement("span");
    this.cbarMax.className = "nbx-cbar-max";
    this.cbarRow.append(this.cbarMin, this.cbar, this.cbarMax);

    this.el.append(this.wrap, this.cbarRow);
    this.draw();
  }

  // --- data -----------------------------------------------------------------------

  setImage(image: ImageRaster | null): void {
    this.image = image;
    this.heatRGBA = null; // raster size may have changed
    this.blend = null;
  }

  setMap(map: HeatmapData | null): void {
    this.map = map;
    this.invalidate();
  }

  getMap(): HeatmapData | null {
    return this.map;
  }

  /** The kernel's colour tables (null: the built-in ones). */
  setLutSource(source: LutSource | null): void {
    this.luts = source;
    this.invalidate();
  }

  lutSource(): LutSource | null {
    return this.luts;
  }

  /** The painted mask (h×w, 1 = painted) shown as a hatch over the canvas; null = none. */
  setPaint(mask: Uint8Array | null, h = 0, w = 0): void {
    this.paint = mask && mask.length === h * w && h > 0 && w > 0 ? { mask, h, w } : null;
  }

  // --- display settings (DISPLAY_CONTROLS' apply) --------------------------------------

  setOpacity(v: number): void {
    this.opacity = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : this.opacity;
  }

  getOpacity(): number {
    return this.opacity;
  }

  setColormap(name: string): void {
    this.update({ colormap: typeof name === "string" && name !== "" ? name : "auto" });
  }

  setClip(v: number): void {
    if (Number.isFinite(v)) this.update({ clip: Math.min(100, Math.max(0, v)) });
  }

  setSign(v: string): void {
    if ((SIGN_MODES as readonly string[]).includes(v)) this.update({ sign: v as SignMode });
  }

  setTopK(v: number): void {
    if (Number.isFinite(v)) this.update({ topK: Math.min(100, Math.max(0, v)) });
  }

  setShowUncertainty(v: boolean): void {
    this.update({ showUncertainty: v === true });
  }

  settings(): Readonly<DisplaySettings> {
    return this.display;
  }

  private update(patch: Partial<DisplaySettings>): void {
    const next = { ...this.display, ...patch };
    const d = this.display;
    if (
      next.colormap === d.colormap &&
      next.clip === d.clip &&
      next.sign === d.sign &&
      next.topK === d.topK &&
      next.showUncertainty === d.showUncertainty
    ) {
      return;
    }
    this.display = next;
    this.invalidate();
  }

  private invalidate(): void {
    this.prepared = null;
    this.heatRGBA = null;
  }

  /** Text shown instead of the canvas when there is nothing to draw (or after a failure). */
  setMessage(text: string): void {
    this.message = text;
  }

  // --- derived ------------------------------------------------------------------------

  /** What is drawn: the values, or (Shapley, when asked for and present) the uncertainty. */
  drawnLayer(): "values" | "uncertainty" {
    return this.display.showUncertainty && this.map?.uncertainty ? "uncertainty" : "values";
  }

  private prepare(): { map: PreparedMap; range: Range; cmap: ResolvedLut; layer: "values" | "uncertainty" } | null {
    if (!this.map) return null;
    if (this.prepared) return this.prepared;
    const layer = this.drawnLayer();
    let map: PreparedMap;
    let cmap: ResolvedLut;
    if (layer === "uncertainty") {
      map = { values: this.map.uncertainty!, mask: this.map.uncertaintyMask ?? this.map.mask, signed: false };
      cmap = resolveSequentialLut(this.display.colormap, this.luts);
    } else {
      map = prepareMap(this.map, { sign: this.display.sign, topK: this.display.topK });
      cmap = resolveLut(this.display.colormap, map.signed, this.luts);
    }
    this.prepared = { map, range: displayRange(map, this.display.clip), cmap, layer };
    return this.prepared;
  }

  /** The colour map in use for the current map (its name). */
  activeColormap(): string {
    const p = this.prepare();
    return p ? p.cmap.name : resolveLut(this.display.colormap, false, this.luts).name;
  }

  /** The colour range of the current map (null when there is none). */
  currentRange(): Range | null {
    return this.prepare()?.range ?? null;
  }

  /** Raster size: the image's, else the map's. */
  private rasterSize(): { h: number; w: number } | null {
    if (this.image && this.image.h > 0 && this.image.w > 0) return { h: this.image.h, w: this.image.w };
    if (this.map && this.map.h > 0 && this.map.w > 0) return { h: this.map.h, w: this.map.w };
    return null;
  }

  private heatPixels(h: number, w: number): Uint8ClampedArray | null {
    if (!this.map || this.map.h <= 0 || this.map.w <= 0) return null;
    if (this.heatRGBA && this.heatRGBA.length === h * w * 4) return this.heatRGBA;
    const p = this.prepare()!;
    const { values, mask } = resampleMap(p.map.values, p.map.mask, this.map.h, this.map.w, h, w);
    this.heatRGBA = colorizePrepared({ values, mask, signed: p.map.signed }, p.range, p.cmap);
    return this.heatRGBA;
  }

  /** The blended RGBA raster (exposed for tests and export). */
  pixels(): { rgba: Uint8ClampedArray; h: number; w: number } | null {
    const size = this.rasterSize();
    if (!size) return null;
    const { h, w } = size;
    const heat = this.heatPixels(h, w);
    const img = this.image && this.image.h === h && this.image.w === w ? this.image.rgba : null;
    this.blend = composite(img, heat, this.opacity, this.blend ?? undefined);
    return { rgba: this.blend, h, w };
  }

  /** Recompute and paint everything. Never throws for missing data. */
  draw(): void {
    this.updateColorbar();
    const size = this.rasterSize();
    const showCanvas = size !== null && this.message === "";
    this.canvas.classList.toggle("nbx-hidden", !showCanvas);
    this.overlay.classList.toggle("nbx-hidden", !showCanvas);
    this.placeholder.classList.toggle("nbx-hidden", showCanvas);
    this.el.dataset.layer = this.drawnLayer();
    this.el.dataset.cmap = this.activeColormap();
    if (!showCanvas) {
      this.placeholder.textContent = this.message || "Nothing to show yet: no image and no attribution map.";
      return;
    }
    const px = this.pixels()!;
    const fit = fitSize(px.h, px.w, DISPLAY_SIZE);
    const view = this.el.ownerDocument.defaultView;
    const dpr = Math.max(1, Math.min(4, (view && view.devicePixelRatio) || 1));
    const cw = Math.max(1, Math.round(fit.width * dpr));
    const ch = Math.max(1, Math.round(fit.height * dpr));
    for (const c of [this.canvas, this.overlay]) {
      if (c.width !== cw) c.width = cw;
      if (c.height !== ch) c.height = ch;
      c.style.width = `${fit.width}px`;
      c.style.height = `${fit.height}px`;
    }
    this.canvas.dataset.rasterWidth = String(px.w);
    this.canvas.dataset.rasterHeight = String(px.h);
    this.overlay.dataset.painted = String(this.paint ? countPainted(this.paint.mask) : 0);

    const ctx = this.canvas.getContext("2d");
    if (!ctx) return; // no 2D canvas (e.g. happy-dom): the pixel math above still ran
    const rctx = this.rasterContext(px.w, px.h);
    if (!rctx) return;
    const imageData = rctx.createImageData(px.w, px.h);
    imageData.data.set(px.rgba);
    rctx.putImageData(imageData, 0, 0);

    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    // Nearest neighbour when enlarging (8×8 digits stay crisp); smooth when shrinking photos.
    ctx.imageSmoothingEnabled = cw < px.w || ch < px.h;
    ctx.drawImage(this.raster!, 0, 0, cw, ch);
    ctx.restore();
    this.drawOverlay(cw, ch, dpr);
  }

  /** Redraw only the paint overlay (during a brush stroke). */
  drawPaint(): void {
    this.overlay.dataset.painted = String(this.paint ? countPainted(this.paint.mask) : 0);
    const view = this.el.ownerDocument.defaultView;
    const dpr = Math.max(1, Math.min(4, (view && view.devicePixelRatio) || 1));
    this.drawOverlay(this.overlay.width, this.overlay.height, dpr);
  }

  private rasterContext(w: number, h: number): CanvasRenderingContext2D | null {
    if (!this.raster) this.raster = this.el.ownerDocument.createElement("canvas");
    const raster = this.raster;
    if (raster.width !== w) raster.width = w;
    if (raster.height !== h) raster.height = h;
    return raster.getContext("2d");
  }

  /** The painted cells: a translucent tint with diagonal hatching, drawn at display resolution. */
  private drawOverlay(cw: number, ch: number, dpr: number): void {
    const ctx = this.overlay.getContext("2d");
    if (!ctx) return;
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    const paint = this.paint;
    if (paint && countPainted(paint.mask) > 0) {
      const doc = this.el.ownerDocument;
      const mcanvas = doc.createElement("canvas");
      mcanvas.width = paint.w;
      mcanvas.height = paint.h;
      const mctx = mcanvas.getContext("2d");
      if (mctx) {
        const data = mctx.createImageData(paint.w, paint.h);
        data.data.set(maskToRGBA(paint.mask, PAINT_RGB));
        mctx.putImageData(data, 0, 0);
        ctx.imageSmoothingEnabled = false;
        ctx.globalAlpha = 0.3;
        ctx.drawImage(mcanvas, 0, 0, cw, ch); // the tint
        ctx.globalAlpha = 1;
        ctx.globalCompositeOperation = "source-atop"; // hatch lines only over the tint
        ctx.strokeStyle = HATCH_CSS;
        ctx.lineWidth = Math.max(1, dpr);
        const gap = 6 * dpr;
        ctx.beginPath();
        for (let x = -ch; x < cw; x += gap) {
          ctx.moveTo(x, ch);
          ctx.lineTo(x + ch, 0);
        }
        ctx.stroke();
      }
    }
    ctx.restore();
  }

  private updateColorbar(): void {
    const p = this.prepare();
    this.cbarRow.classList.toggle("nbx-hidden", p === null);
    if (!p) return;
    this.cbar.style.background = cssGradientOf(p.cmap.lut);
    this.cbar.dataset.cmap = p.cmap.name;
    this.cbarMin.textContent = formatValue(p.range.vmin);
    this.cbarMax.textContent = formatValue(p.range.vmax);
  }
}
