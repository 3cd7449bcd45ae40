/**
 * Geometry of the completeness-error chart (|Δ| against the number of steps), pure.
 * The y axis is logarithmic when every |Δ| is positive and they span more than a
 * factor of 10 (the error falls by orders of magnitude as steps grow), linear otherwise.
 */

export interface ChartBox {
  width: number;
  height: number;
  /** Space for the axis labels: left, right, top, bottom. */
  pad: { left: number; right: number; top: number; bottom: number };
}

export interface ChartGeometry {
  /** The points in SVG coordinates, sorted by steps. */
  xy: Array<[number, number]>;
  /** The data: [steps, |delta|], sorted by steps. */
  data: Array<[number, number]>;
  log: boolean;
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

/** Well-formed `[[steps, delta], ...]` entries (finite numbers), as [steps, |delta|], sorted by steps. */
export function sanitizeCurve(value: unknown): Array<[number, number]> {
  if (!Array.isArray(value)) return [];
  const out: Array<[number, number]> = [];
  for (const p of value) {
    if (!Array.isArray(p) || p.length < 2) continue;
    const s = Number(p[0]);
    const d = Number(p[1]);
    if (typeof p[0] !== "number" || typeof p[1] !== "number" || !Number.isFinite(s) || !Number.isFinite(d)) continue;
    out.push([s, Math.abs(d)]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}

export function chartGeometry(curve: Array<[number, number]>, box: ChartBox): ChartGeometry | null {
  if (curve.length === 0) return null;
  const xs = curve.map((p) => p[0]);
  const ys = curve.map((p) => p[1]);
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (!(xMax > xMin)) {
    xMin -= 1;
    xMax += 1;
  }
  const posMin = Math.min(...ys);
  const yMaxRaw = Math.max(...ys);
  const log = posMin > 0 && yMaxRaw / posMin > 10;
  const fy = (v: number): number => (log ? Math.log10(v) : v);
  let yMin = log ? fy(posMin) : Math.min(0, posMin);
  let yMax = fy(yMaxRaw);
  if (!(yMax > yMin)) {
    yMax = yMin + (log ? 1 : Math.abs(yMin) || 1);
  }
  const { width, height, pad } = box;
  const iw = Math.max(1, width - pad.left - pad.right);
  const ih = Math.max(1, height - pad.top - pad.bottom);
  const xy = curve.map(([s, d]) => {
    const x = pad.left + ((s - xMin) / (xMax - xMin)) * iw;
    const y = pad.top + ih - ((fy(d) - yMin) / (yMax - yMin)) * ih;
    return [Math.round(x * 100) / 100, Math.round(y * 100) / 100] as [number, number];
  });
  return {
    xy,
    data: curve,
    log,
    xMin,
    xMax,
    yMin: log ? 10 ** yMin : yMin,
    yMax: log ? 10 ** yMax : yMax,
  };
}
