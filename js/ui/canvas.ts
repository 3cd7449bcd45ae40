/** Small canvas helpers for the secondary views (path, comparison, thumbnails). */
import { fitSize } from "../lib/draw";

/**
 * Show an RGBA raster in `canvas` at its own resolution (canvas.width/height = w/h), scaled
 * by CSS to fit `maxSide` px (pixelated when enlarged). Without a 2D context (happy-dom) only
 * the sizes are set. Sets `data-raster-width` / `data-raster-height`.
 */
export function putRGBA(canvas: HTMLCanvasElement, rgba: Uint8ClampedArray, w: number, h: number, maxSide: number): void {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const fit = fitSize(h, w, maxSide);
  canvas.style.width = `${fit.width}px`;
  canvas.style.height = `${fit.height}px`;
  canvas.dataset.rasterWidth = String(w);
  canvas.dataset.rasterHeight = String(h);
  const ctx = canvas.getContext("2d");
  if (!ctx || w <= 0 || h <= 0 || rgba.length !== w * h * 4) return;
  const data = ctx.createImageData(w, h);
  data.data.set(rgba);
  ctx.putImageData(data, 0, 0);
}
