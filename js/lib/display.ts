/**
 * What of an attribution map is drawn, and in which colour range: the display-only
 * settings `sign`, `top_k` and `clip` as pure functions (no DOM, unit-tested).
 *
 * Pipeline (the main view, the comparison grid and the path canvases all use it):
 *   prepareMap(map, {sign, topK})  ->  displayRange(prepared, clip)  ->  colorize(..., lut)
 */
import { colorize, resolveLut, type LutSource, type ResolvedLut } from "./colormap";
import { robustRange, type Range } from "./normalize";

export const SIGN_MODES = ["both", "positive", "negative", "absolute"] as const;
export type SignMode = (typeof SIGN_MODES)[number];

/** A 2-D map as the views hold it. `mask`: uint8, 1 = not drawn. */
export interface MapData {
  values: Float32Array;
  mask: Uint8Array | null;
  h: number;
  w: number;
  signed: boolean;
}

/** The values to draw: after the sign transform and the top-k mask. */
export interface PreparedMap {
  values: Float32Array;
  mask: Uint8Array | null;
  signed: boolean;
}

export interface MapSettings {
  sign: SignMode;
  /** Percentage (1..100) of the map's area drawn: the cells of largest |value|. */
  topK: number;
}

function isShown(values: ArrayLike<number>, mask: Uint8Array | null, i: number): boolean {
  return (mask === null || mask[i] === 0) && Number.isFinite(values[i]);
}

/**
 * The `sign` setting: what is drawn.
 *
 * - `both`: the values as they are (no copy);
 * - `positive`: the positive values; every other cell is masked;
 * - `negative`: the magnitudes of the negative values; every other cell is masked;
 * - `absolute`: |value| everywhere.
 *
 * All but `both` give non-negative values (`signed: false`, so "auto" picks a sequential
 * map). Masked cells of the result hold 0.
 */
export function applySign(
  values: Float32Array,
  mask: Uint8Array | null,
  signed: boolean,
  sign: SignMode | string,
): PreparedMap {
  const useMask = mask !== null && mask.length === values.length ? mask : null;
  if (sign !== "positive" && sign !== "negative" && sign !== "absolute") return { values, mask: useMask, signed };
  const n = values.length;
  const out = new Float32Array(n);
  const outMask = new Uint8Array(n);
  let anyMasked = false;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    let keep: boolean;
    let x = 0;
    if (!isShown(values, useMask, i)) keep = false;
    else if (sign === "positive") {
      keep = v > 0;
      x = v;
    } else if (sign === "negative") {
      keep = v < 0;
      x = -v;
    } else {
      keep = true;
      x = Math.abs(v);
    }
    if (keep) out[i] = x;
    else {
      outMask[i] = 1;
      anyMasked = true;
    }
  }
  return { values: out, mask: anyMasked ? outMask : null, signed: false };
}

/**
 * The `top_k` setting: keep only the `k` percent of `area` cells with the largest |value|
 * (at least one cell when k > 0), mask the others. `area` defaults to the number of drawn
 * cells (finite, not masked). Cells tied with the last one kept are kept too. Returns the
 * new mask (or `mask` itself when nothing is hidden, e.g. k >= 100).
 */
export function topKMask(
  values: Float32Array,
  mask: Uint8Array | null,
  k: number,
  area?: number,
): Uint8Array | null {
  const useMask = mask !== null && mask.length === values.length ? mask : null;
  if (!(k < 100)) return useMask;
  const n = values.length;
  const mags: number[] = [];
  for (let i = 0; i < n; i++) if (isShown(values, useMask, i)) mags.push(Math.abs(values[i]));
  const total = area ?? mags.length;
  const keep = Math.min(mags.length, Math.ceil((Math.max(0, k) / 100) * total - 1e-9));
  if (keep >= mags.length) return useMask;
  const out = useMask ? useMask.slice() : new Uint8Array(n);
  if (keep <= 0) {
    out.fill(1);
    return out;
  }
  mags.sort((a, b) => b - a);
  const threshold = mags[keep - 1];
  for (let i = 0; i < n; i++) {
    if (out[i] === 0 && isShown(values, useMask, i) && Math.abs(values[i]) < threshold) out[i] = 1;
  }
  return out;
}

/** Number of cells drawn (finite, not masked). */
export function drawnCells(values: ArrayLike<number>, mask: Uint8Array | null): number {
  const useMask = mask !== null && mask.length === values.length ? mask : null;
  let c = 0;
  for (let i = 0; i < values.length; i++) if (isShown(values, useMask, i)) c++;
  return c;
}

/**
 * The sign transform, then the top-k mask. The top-k percentage counts the whole map's
 * area (its finite, unmasked cells before the sign transform): `positive` at 10% draws the
 * positive cells among the 10% of the area with the largest values.
 */
export function prepareMap(map: Pick<MapData, "values" | "mask" | "signed">, settings: MapSettings): PreparedMap {
  const signed = applySign(map.values, map.mask, map.signed, settings.sign);
  if (!(settings.topK < 100)) return signed;
  const area = drawnCells(map.values, map.mask);
  return { ...signed, mask: topKMask(signed.values, signed.mask, settings.topK, area) };
}

/** The colour range: `clip` = the percentile of |values| at the ends (symmetric for signed maps). */
export function displayRange(map: PreparedMap, clip: number): Range {
  return robustRange(map.values, { signed: map.signed, percentile: clip, mask: map.mask });
}

/**
 * One colour range for several maps (the comparison grid): the robust range of all their
 * drawn values together; symmetric when any of them is signed.
 */
export function sharedRange(maps: readonly PreparedMap[], clip: number): Range | null {
  if (maps.length === 0) return null;
  let n = 0;
  for (const m of maps) n += m.values.length;
  const values = new Float32Array(n);
  const mask = new Uint8Array(n);
  let o = 0;
  for (const m of maps) {
    values.set(m.values, o);
    if (m.mask && m.mask.length === m.values.length) mask.set(m.mask, o);
    o += m.values.length;
  }
  return robustRange(values, { signed: maps.some((m) => m.signed), percentile: clip, mask });
}

/** RGBA of a prepared map in a range with a colour table (transparent where masked). */
export function colorizePrepared(map: PreparedMap, range: Range, cmap: ResolvedLut): Uint8ClampedArray {
  return colorize(map.values, map.mask, {
    lut: cmap.lut,
    diverging: cmap.diverging,
    vmin: range.vmin,
    vmax: range.vmax,
    alphaByMagnitude: cmap.diverging,
  });
}

export interface RenderOptions extends MapSettings {
  colormap: string;
  clip: number;
  luts: LutSource | null;
  /** A colour range to use instead of the map's own (e.g. the comparison's shared one). */
  range?: Range | null;
}

/** A map's RGBA at its own resolution (transparent where not drawn), its range and colour map. */
export function renderMap(
  map: Pick<MapData, "values" | "mask" | "signed">,
  opts: RenderOptions,
): { rgba: Uint8ClampedArray; range: Range; cmap: ResolvedLut } {
  const prepared = prepareMap(map, opts);
  const range = opts.range ?? displayRange(prepared, opts.clip);
  const cmap = resolveLut(opts.colormap, prepared.signed || range.vmin < 0, opts.luts);
  return { rgba: colorizePrepared(prepared, range, cmap), range, cmap };
}
