/**
 * Pure math of the feature-attribution charts (table and sequence views, protocol16): the
 * order of the bars, the top-k folding, the waterfall, the sum check, scales, the baseline
 * handle's value at a pointer position, and the beeswarm's layout and colours. No DOM.
 */

/** A finite number, or null (the kernel sends non-finite numbers as null). */
export function finiteOrNull(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** A list of numbers-or-null; null when `raw` is not a list or (with `n`) not of length n. */
export function numberList(raw: unknown, n?: number): (number | null)[] | null {
  if (!Array.isArray(raw)) return null;
  if (n !== undefined && raw.length !== n) return null;
  return raw.map(finiteOrNull);
}

/** R×F nested lists of numbers-or-null (rows of another length are padded / cut to F). */
export function numberMatrix(raw: unknown, f: number): (number | null)[][] {
  if (!Array.isArray(raw)) return [];
  return raw.map((row) => {
    const r = Array.isArray(row) ? row : [];
    const out: (number | null)[] = [];
    for (let j = 0; j < f; j++) out.push(finiteOrNull(r[j]));
    return out;
  });
}

export interface BarFeature {
  /** Position in `feature_names`. */
  index: number;
  name: string;
  /** The attribution (null: not finite). */
  value: number | null;
  /** The 95% interval (Shapley), when sent. */
  low: number | null;
  high: number | null;
}

/** The features in order of |value|, largest first; null values last; ties by index. */
export function sortByMagnitude<T extends { index: number; value: number | null }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => {
    const ma = a.value === null ? -1 : Math.abs(a.value);
    const mb = b.value === null ? -1 : Math.abs(b.value);
    return mb - ma || a.index - b.index;
  });
}

export interface Others {
  /** How many features are folded. */
  count: number;
  /** The sum of their (finite) values. */
  sum: number;
  /** Their names, in order. */
  names: string[];
}

/**
 * The top `k` (of items already sorted) and the rest folded into one "others" entry (their
 * sum); `others` is null when nothing is folded. `k` is rounded and clamped to [1, n].
 */
export function foldTopK<T extends { name: string; value: number | null }>(
  sorted: readonly T[],
  k: number,
): { shown: T[]; others: Others | null } {
  const n = sorted.length;
  const kk = Number.isFinite(k) ? Math.min(n, Math.max(1, Math.round(k))) : n;
  if (kk >= n) return { shown: [...sorted], others: null };
  const rest = sorted.slice(kk);
  let sum = 0;
  for (const r of rest) if (r.value !== null) sum += r.value;
  return { shown: sorted.slice(0, kk), others: { count: rest.length, sum, names: rest.map((r) => r.name) } };
}

/** The label of the folded bar: "3 others" ("1 other"). */
export function othersLabel(count: number): string {
  return count === 1 ? "1 other" : `${count} others`;
}

export interface Step {
  start: number;
  end: number;
}

/**
 * The waterfall of values listed top to bottom (as the bars are drawn): the bottom one
 * starts at `base` and each bar starts where the one below it ends, so the top one ends at
 * base + Σ values (the prediction). Null values are steps of 0.
 */
export function waterfallSteps(values: readonly (number | null)[], base: number): Step[] {
  const out: Step[] = new Array(values.length);
  let at = base;
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i] ?? 0;
    out[i] = { start: at, end: at + v };
    at += v;
  }
  return out;
}

export interface SumCheck {
  /** Σ of the finite values. */
  sum: number;
  /** prediction − base. */
  expected: number;
  /** |base + Σ − prediction|. */
  diff: number;
  /** 1e-6 · scale, scale = max(|base|, |prediction|, Σ|values|). */
  tolerance: number;
  ok: boolean;
  /** How many values were null (counted as 0). */
  missing: number;
}

/** Whether the attributions add up to prediction − base (efficiency), within 1e-6 of the scale. */
export function sumCheck(values: readonly (number | null)[], base: number, prediction: number): SumCheck {
  let sum = 0;
  let abs = 0;
  let missing = 0;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) {
      missing++;
      continue;
    }
    sum += v;
    abs += Math.abs(v);
  }
  const expected = prediction - base;
  const diff = Math.abs(base + sum - prediction);
  const scale = Math.max(Math.abs(base), Math.abs(prediction), abs);
  const tolerance = 1e-6 * scale;
  return { sum, expected, diff, tolerance, ok: diff <= tolerance, missing };
}

/** [lo, hi] of the finite numbers given (with 0 when `withZero`), never empty or degenerate. */
export function extent(values: Iterable<number | null | undefined>, withZero = true): [number, number] {
  let lo = withZero ? 0 : Infinity;
  let hi = withZero ? 0 : -Infinity;
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(lo <= hi)) return [-1, 1];
  if (lo === hi) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.5;
    return [lo - d, hi + d];
  }
  return [lo, hi];
}

/** [lo, hi] widened by `frac` of its width on each side. */
export function pad(domain: readonly [number, number], frac: number): [number, number] {
  const w = domain[1] - domain[0];
  return [domain[0] - w * frac, domain[1] + w * frac];
}

/** A linear map of [d0, d1] onto [r0, r1]. */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 !== d0 ? (r1 - r0) / (d1 - d0) : 0;
  return (v) => r0 + (v - d0) * k;
}

/** The value under `x` on an axis drawn from x0 (= min) to x1 (= max), clamped to [min, max]. */
export function valueAtX(x: number, x0: number, x1: number, min: number, max: number): number {
  if (!(x1 !== x0) || !(max > min)) return min;
  const t = Math.min(1, Math.max(0, (x - x0) / (x1 - x0)));
  return min + t * (max - min);
}

/** A number rounded to 6 significant digits (no 0.30000000000000004 in the dict). */
export function tidy(v: number): number {
  return Number.isFinite(v) ? Number(v.toPrecision(6)) : v;
}

/** A keyboard step of the baseline handle: 1% of the range (direction ±1), clamped. */
export function nudge(v: number, min: number, max: number, direction: number): number {
  if (!(max > min)) return v;
  return tidy(Math.min(max, Math.max(min, v + direction * 0.01 * (max - min))));
}

/** Own, finite numeric entries of a `baseline` dict trait (anything else is ignored). */
export function baselineEntries(raw: unknown): Array<[string, number]> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return [];
  const out: Array<[string, number]> = [];
  for (const k of Object.keys(raw as object)) {
    const v = (raw as Record<string, unknown>)[k];
    if (typeof v === "number" && Number.isFinite(v)) out.push([k, v]);
  }
  return out;
}

/** The custom baseline of `name` (an own entry of the dict), or null. */
export function customBaseline(raw: unknown, name: string): number | null {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return null;
  if (!Object.prototype.hasOwnProperty.call(raw, name)) return null;
  return finiteOrNull((raw as Record<string, unknown>)[name]);
}

/** A new dict: `raw`'s entries with `name` set to `value` (`null`: removed). */
export function withBaseline(raw: unknown, name: string, value: number | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of baselineEntries(raw)) if (k !== name) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  if (value !== null) Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

// --- beeswarm ---------------------------------------------------------------------------

/** Feature indices in order of mean |attribution| over the rows, largest first (ties by index). */
export function orderByMeanAbs(values: readonly (readonly (number | null)[])[], f: number): number[] {
  const mean = new Array<number>(f).fill(0);
  const cnt = new Array<number>(f).fill(0);
  for (const row of values) {
    for (let j = 0; j < f; j++) {
      const v = row[j];
      if (v === null || v === undefined || !Number.isFinite(v)) continue;
      mean[j] += Math.abs(v);
      cnt[j]++;
    }
  }
  for (let j = 0; j < f; j++) mean[j] = cnt[j] > 0 ? mean[j] / cnt[j] : -1;
  return Array.from({ length: f }, (_, j) => j).sort((a, b) => mean[b] - mean[a] || a - b);
}

/** One feature's values scaled to [0, 1] by its min and max (a constant feature: 0.5; null stays null). */
export function normalizeColumn(values: readonly (number | null)[]): (number | null)[] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null;
    return hi > lo ? (v - lo) / (hi - lo) : 0.5;
  });
}

/**
 * Deterministic vertical offsets of a beeswarm row: dots whose x (in px) fall in the same
 * bin of `bin` px are stacked 0, +s, −s, +2s, −2s, ... in row order, with s = `step` or less
 * so that the largest stack stays within ±`maxOffset`. Null x: offset 0 (not drawn).
 */
export function swarmOffsets(xs: readonly (number | null)[], bin: number, step: number, maxOffset: number): number[] {
  const b = bin > 0 ? bin : 1;
  const key = (x: number): number => Math.round(x / b);
  const sizes = new Map<number, number>();
  for (const x of xs) if (x !== null && Number.isFinite(x)) sizes.set(key(x), (sizes.get(key(x)) ?? 0) + 1);
  const seen = new Map<number, number>();
  return xs.map((x) => {
    if (x === null || !Number.isFinite(x)) return 0;
    const k = key(x);
    const c = seen.get(k) ?? 0;
    seen.set(k, c + 1);
    if (c === 0) return 0;
    const half = Math.ceil(((sizes.get(k) ?? 1) - 1) / 2);
    const s = half > 0 ? Math.min(step, maxOffset / half) : step;
    const level = Math.ceil(c / 2);
    return (c % 2 === 1 ? 1 : -1) * level * s;
  });
}

// --- colours ------------------------------------------------------------------------------

/** `rgb(r, g, b)` of entry `i` (0..255) of a 256×3 table. */
export function lutCss(lut: Uint8Array, i: number): string {
  const j = Math.max(0, Math.min(255, Math.round(i))) * 3;
  return `rgb(${lut[j]}, ${lut[j + 1]}, ${lut[j + 2]})`;
}

/** The table's entry for t in [0, 1] (matplotlib's floor(t·256), 255 at 1). */
export function lutIndex(t: number): number {
  const c = Math.min(1, Math.max(0, t));
  return c >= 1 ? 255 : Math.floor(c * 256);
}

/** The bar colours of a diverging table: near its ends (positive: the high end, red in RdBu_r). */
export function signColors(lut: Uint8Array): { positive: string; negative: string } {
  return { positive: lutCss(lut, 230), negative: lutCss(lut, 25) };
}

/** The colour of a signed value in a symmetric range [-m, m] and a readable text colour on it. */
export function signedColor(v: number | null, m: number, lut: Uint8Array): { bg: string; fg: string } | null {
  if (v === null || !Number.isFinite(v)) return null;
  const t = m > 0 ? (v / m + 1) / 2 : 0.5;
  const j = lutIndex(t) * 3;
  const [r, g, b] = [lut[j], lut[j + 1], lut[j + 2]];
  const lum = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return { bg: `rgb(${r}, ${g}, ${b})`, fg: lum < 0.5 ? "#fff" : "#111" };
}

/** max |v| over the finite values (1 when none is non-zero): the symmetric colour range. */
export function maxAbs(values: ArrayLike<number | null>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== null && Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  }
  return m > 0 ? m : 1;
}

/** About `n` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, n = 4): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  const raw = (hi - lo) / Math.max(1, n);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return out;
}
