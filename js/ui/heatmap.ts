/**
 * The composite view: one `<canvas class="nbx-heatmap">` showing the input
 * image scaled to the display size with the heatmap blended over it at the
 * current opacity (blended in JS, so the canvas pixels change with opacity),
 * plus a colour bar with min/max labels.
 */
import { colorize, cssGradient, DIVERGING, resolveColormap } from "../lib/colormap";
import { composite, fitSize, resampleMap } from "../lib/draw";
import { formatValue } from "../lib/format";
import { robustRange, type Range } from "../lib/normalize";
import type { ColormapName, ConcreteColormap } from "../lib/types";

export interface ImageRaster {
  rgba: Uint8ClampedArray;
  h: number;
  w: number;
}

export interface HeatmapData {
  values: Float32Array;
  mask: Uint8Array | null;
  h: number;
  w: number;
  signed: boolean;
}

export const DISPLAY_SIZE = 280;

export class HeatmapView {
  readonly el: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  private readonly wrap: HTMLDivElement;
  private readonly placeholder: HTMLDivElement;
  private readonly cbarRow: HTMLDivElement;
  private readonly cbar: HTMLDivElement;
  private readonly cbarMin: HTMLSpanElement;
  private readonly cbarMax: HTMLSpanElement;

  private image: ImageRaster | null = null;
  private map: HeatmapData | null = null;
  private colormap: ColormapName | string = "auto";
  private opacity = 0.5;
  private message = "";

  // Caches, invalidated by setImage/setMap/setColormap.
  private heatRGBA: Uint8ClampedArray | null = null;
  private range: Range | null = null;
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
    this.placeholder = doc.createElement("div");
    this.placeholder.className = "nbx-placeholder";
    this.wrap.append(this.canvas, this.placeholder);

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

  setImage(image: ImageRaster | null): void {
    this.image = image;
    this.heatRGBA = null; // raster size may have changed
    this.blend = null;
  }

  setMap(map: HeatmapData | null): void {
    this.map = map;
    this.heatRGBA = null;
    this.range = null;
  }

  setColormap(name: ColormapName | string): void {
    if (name === this.colormap) return;
    this.colormap = name;
    this.heatRGBA = null;
  }

  setOpacity(v: number): void {
    this.opacity = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : this.opacity;
  }

  getOpacity(): number {
    return this.opacity;
  }

  /** Text shown instead of the canvas when there is nothing to draw (or after a failure). */
  setMessage(text: string): void {
    this.message = text;
  }

  /** The concrete colour map in use for the current map. */
  activeColormap(): ConcreteColormap {
    return resolveColormap(this.colormap, this.map?.signed ?? false);
  }

  /** The colour range of the current map (null when there is none). */
  currentRange(): Range | null {
    if (!this.map) return null;
    if (!this.range) {
      this.range = robustRange(this.map.values, { signed: this.map.signed, mask: this.map.mask });
    }
    return this.range;
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
    const range = this.currentRange()!;
    const cmap = this.activeColormap();
    const { values, mask } = resampleMap(this.map.values, this.map.mask, this.map.h, this.map.w, h, w);
    this.heatRGBA = colorize(values, mask, {
      cmap,
      vmin: range.vmin,
      vmax: range.vmax,
      alphaByMagnitude: DIVERGING.has(cmap),
    });
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
    this.placeholder.classList.toggle("nbx-hidden", showCanvas);
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
    if (this.canvas.width !== cw) this.canvas.width = cw;
    if (this.canvas.height !== ch) this.canvas.height = ch;
    this.canvas.style.width = `${fit.width}px`;
    this.canvas.style.height = `${fit.height}px`;
    this.canvas.dataset.rasterWidth = String(px.w);
    this.canvas.dataset.rasterHeight = String(px.h);

    const ctx = this.canvas.getContext("2d");
    if (!ctx) return; // no 2D canvas (e.g. happy-dom): the pixel math above still ran
    if (!this.raster) this.raster = this.el.ownerDocument.createElement("canvas");
    const raster = this.raster;
    if (raster.width !== px.w) raster.width = px.w;
    if (raster.height !== px.h) raster.height = px.h;
    const rctx = raster.getContext("2d");
    if (!rctx) return;
    const imageData = rctx.createImageData(px.w, px.h);
    imageData.data.set(px.rgba);
    rctx.putImageData(imageData, 0, 0);

    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, cw, ch);
    // Nearest neighbour when enlarging (8×8 digits stay crisp); smooth when shrinking photos.
    ctx.imageSmoothingEnabled = cw < px.w || ch < px.h;
    ctx.drawImage(raster, 0, 0, cw, ch);
    ctx.restore();
  }

  private updateColorbar(): void {
    const range = this.currentRange();
    this.cbarRow.classList.toggle("nbx-hidden", range === null);
    if (!range) return;
    const cmap = this.activeColormap();
    this.cbar.style.background = cssGradient(cmap);
    this.cbar.dataset.cmap = cmap;
    this.cbarMin.textContent = formatValue(range.vmin);
    this.cbarMax.textContent = formatValue(range.vmax);
  }
}
