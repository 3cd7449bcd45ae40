/**
 * Robust colour ranges for attribution maps.
 */

export interface RangeOptions {
  /** Signed maps get a symmetric range [-m, m]. */
  signed: boolean;
  /** Upper percentile (0..100) used instead of the maximum. Default 99.5. */
  percentile?: number;
  /** uint8, 1 where the value must be ignored. */
  mask?: Uint8Array | null;
}

export interface Range {
  vmin: number;
  vmax: number;
}

/** Linear-interpolated percentile (numpy's default) of sorted finite values. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const p = Math.min(100, Math.max(0, q)) / 100;
  const pos = p * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const f = pos - lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * f;
}

function collect(values: ArrayLike<number>, mask: Uint8Array | null | undefined, abs: boolean): Float64Array {
  const n = values.length;
  const useMask = mask != null && mask.length === n;
  const buf = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (useMask && mask[i] !== 0) continue;
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    buf[k++] = abs ? Math.abs(v) : v;
  }
  const out = buf.subarray(0, k);
  out.sort();
  return out;
}

/**
 * Colour range for a map.
 *
 * - signed: `[-m, m]`, m = the `percentile` of |v|;
 * - unsigned: `[lo, hi]`, hi = the `percentile` of v, lo = 0 when no value is
 *   negative, else the `(100 - percentile)` percentile (a robust minimum).
 *
 * Masked and non-finite values are ignored. The result is never degenerate:
 * when the percentile collapses onto the low end (sparse maps) the maximum is
 * used, and an all-zero / empty map gives [-1, 1] (signed) or [0, 1].
 */
export function robustRange(values: ArrayLike<number>, opts: RangeOptions): Range {
  const q = opts.percentile ?? 99.5;
  if (opts.signed) {
    const a = collect(values, opts.mask, true);
    let m = percentileSorted(a, q);
    if (!(m > 0) && a.length > 0) m = a[a.length - 1];
    if (!(m > 0) || !Number.isFinite(m)) m = 1;
    return { vmin: -m, vmax: m };
  }
  const s = collect(values, opts.mask, false);
  if (s.length === 0) return { vmin: 0, vmax: 1 };
  const min = s[0];
  const max = s[s.length - 1];
  const lo = min >= 0 ? 0 : Math.min(0, percentileSorted(s, 100 - q));
  let hi = percentileSorted(s, q);
  if (!(hi > lo)) hi = max;
  if (!(hi > lo)) hi = lo + (lo === 0 ? 1 : Math.abs(lo));
  return { vmin: lo, vmax: hi };
}
