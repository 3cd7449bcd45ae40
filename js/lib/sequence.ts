/**
 * Pure helpers of the sequence view (protocol16, view = "sequence"): the T×D map drawn with
 * time on x and features on y, its size on screen, and the step under the pointer.
 */

/** The map's size on screen: `width` px wide, one row of `cellH` px per feature (features readable when >= 10). */
export function seqLayout(t: number, d: number, width = 470, maxHeight = 240): { width: number; height: number; cellW: number; cellH: number; labels: boolean } {
  const T = Math.max(1, t);
  const D = Math.max(1, d);
  const cellH = Math.min(18, Math.max(1, maxHeight / D));
  const height = Math.max(1, Math.round(D * cellH));
  return { width, height, cellW: width / T, cellH, labels: cellH >= 10 };
}

/** The step (0..T-1) under `clientX` on a map drawn from `left` over `width` px. */
export function stepAt(clientX: number, left: number, width: number, t: number): number {
  if (!(t > 0)) return 0;
  if (!(width > 0)) return 0;
  return Math.min(t - 1, Math.max(0, Math.floor(((clientX - left) / width) * t)));
}

/** A step index clamped to [0, T-1] (anything not a number: 0). */
export function clampStep(v: unknown, t: number): number {
  const n = typeof v === "number" && Number.isFinite(v) ? Math.round(v) : 0;
  return Math.min(Math.max(0, t - 1), Math.max(0, n));
}

/**
 * T×D row-major values (time-major, as sent) -> a D×T raster (row d = feature d over time),
 * with the mask likewise.
 */
export function transposeTD(values: ArrayLike<number>, mask: Uint8Array | null, t: number, d: number): { values: Float32Array; mask: Uint8Array | null } {
  const out = new Float32Array(t * d);
  const outMask = mask && mask.length === t * d ? new Uint8Array(t * d) : null;
  for (let i = 0; i < t; i++) {
    for (let j = 0; j < d; j++) {
      out[j * t + i] = values[i * d + j];
      if (outMask) outMask[j * t + i] = mask![i * d + j];
    }
  }
  return { values: out, mask: outMask };
}

/** The D values at step `s` (masked or not finite: null). */
export function valuesAtStep(values: ArrayLike<number>, mask: Uint8Array | null, t: number, d: number, s: number): (number | null)[] {
  const out: (number | null)[] = [];
  if (s < 0 || s >= t) return out;
  for (let j = 0; j < d; j++) {
    const k = s * d + j;
    const v = values[k];
    out.push((mask && mask[k] !== 0) || !Number.isFinite(v) ? null : v);
  }
  return out;
}
