/**
 * Number formatting for labels (colour bar ends, probabilities).
 */

/** Compact number: 3 significant digits, exponent form for very small/large values. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(2).replace("e+", "e");
  return String(Number(v.toPrecision(3)));
}

/** Probability 0..1 as a percentage with one decimal ("<0.1%" for tiny, "–" for invalid). */
export function formatPercent(p: number): string {
  if (typeof p !== "number" || !Number.isFinite(p)) return "–";
  const pct = Math.min(1, Math.max(0, p)) * 100;
  if (pct > 0 && pct < 0.05) return "<0.1%";
  return `${pct.toFixed(1)}%`;
}
