/**
 * The paint mask (the `paint` trait: uint8 H×W, row-major, 1 = painted) and the brush math,
 * as pure functions: pointer position -> raster cell, stroke -> cells, mask <-> bytes.
 *
 * The raster is the image's (`image_meta.shape[:2]`), not the canvas's CSS pixels: a cell
 * (row y, column x) spans [x, x+1) × [y, y+1) in raster coordinates, its centre at
 * (x + 0.5, y + 0.5).
 */
import { asBytes } from "./codec";

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Raster coordinates (fractional, x to the right, y down) of a pointer at client position
 * (clientX, clientY) over an element occupying `box` (its getBoundingClientRect) that shows
 * a w×h raster stretched over it. Null when the box has no size.
 */
export function clientToRaster(
  clientX: number,
  clientY: number,
  box: Box,
  w: number,
  h: number,
): { x: number; y: number } | null {
  if (!(box.width > 0) || !(box.height > 0) || !(w > 0) || !(h > 0)) return null;
  return { x: ((clientX - box.left) / box.width) * w, y: ((clientY - box.top) / box.height) * h };
}

/** A brush diameter given in display pixels, in raster cells (the raster shown `displayWidth` px wide). */
export function brushRadius(diameterPx: number, displayWidth: number, w: number): number {
  if (!(displayWidth > 0) || !(w > 0)) return 0;
  return Math.max(0, (diameterPx / 2) * (w / displayWidth));
}

function cellOf(v: number, n: number): number {
  return Math.min(n - 1, Math.max(0, Math.floor(v)));
}

/**
 * Paint the stroke from (x0, y0) to (x1, y1) (raster coordinates) with a round brush of
 * `radius` cells: every cell whose centre lies within `radius` of the segment, plus the
 * cells under the two end points (so the thinnest brush still paints the cell under the
 * pointer). Sets them to `value` (1 paint, 0 erase). Returns how many cells changed.
 */
export function paintSegment(
  mask: Uint8Array,
  w: number,
  h: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  radius: number,
  value: 0 | 1,
): number {
  if (mask.length !== w * h || w <= 0 || h <= 0) return 0;
  let changed = 0;
  const set = (cx: number, cy: number): void => {
    const i = cy * w + cx;
    if (mask[i] !== value) {
      mask[i] = value;
      changed++;
    }
  };
  const r = Math.max(0, radius);
  const xa = Math.max(0, Math.floor(Math.min(x0, x1) - r - 1));
  const xb = Math.min(w - 1, Math.ceil(Math.max(x0, x1) + r + 1));
  const ya = Math.max(0, Math.floor(Math.min(y0, y1) - r - 1));
  const yb = Math.min(h - 1, Math.ceil(Math.max(y0, y1) + r + 1));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  const r2 = r * r;
  for (let cy = ya; cy <= yb; cy++) {
    for (let cx = xa; cx <= xb; cx++) {
      const px = cx + 0.5;
      const py = cy + 0.5;
      let t = len2 > 0 ? ((px - x0) * dx + (py - y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = x0 + t * dx - px;
      const ey = y0 + t * dy - py;
      if (ex * ex + ey * ey <= r2) set(cx, cy);
    }
  }
  for (const [x, y] of [
    [x0, y0],
    [x1, y1],
  ]) {
    if (x >= 0 && x < w && y >= 0 && y < h) set(cellOf(x, w), cellOf(y, h));
  }
  return changed;
}

/** Number of painted cells. */
export function countPainted(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) n++;
  return n;
}

/**
 * The mask held by a `paint` trait value for an h×w raster: a copy of its bytes as 0/1,
 * or an empty (all-zero) mask when the value is empty or of another size.
 */
export function maskFromBytes(raw: unknown, h: number, w: number): Uint8Array {
  const out = new Uint8Array(Math.max(0, h * w));
  let bytes: Uint8Array;
  try {
    bytes = raw == null ? new Uint8Array(0) : asBytes(raw as DataView);
  } catch {
    return out;
  }
  if (bytes.length !== out.length) return out;
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] !== 0 ? 1 : 0;
  return out;
}

/** The `paint` trait value of a mask: a DataView over a copy of its bytes; empty when nothing is painted. */
export function maskToTrait(mask: Uint8Array): DataView {
  if (countPainted(mask) === 0) return new DataView(new ArrayBuffer(0));
  const copy = new Uint8Array(mask.length);
  for (let i = 0; i < mask.length; i++) copy[i] = mask[i] !== 0 ? 1 : 0;
  return new DataView(copy.buffer);
}

/** RGBA of the painted cells in `rgb` (alpha 255), transparent elsewhere: the overlay's raster. */
export function maskToRGBA(mask: Uint8Array, rgb: readonly [number, number, number]): Uint8ClampedArray {
  const out = new Uint8ClampedArray(mask.length * 4);
  for (let i = 0, o = 0; i < mask.length; i++, o += 4) {
    if (mask[i] === 0) continue;
    out[o] = rgb[0];
    out[o + 1] = rgb[1];
    out[o + 2] = rgb[2];
    out[o + 3] = 255;
  }
  return out;
}
