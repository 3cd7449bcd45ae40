import { describe, expect, it } from "vitest";
import { percentileSorted, robustRange } from "./normalize";

describe("percentileSorted", () => {
  it("interpolates linearly like numpy", () => {
    expect(percentileSorted([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentileSorted([0, 10], 99.5)).toBeCloseTo(9.95);
    expect(percentileSorted([5], 99.5)).toBe(5);
  });
});

describe("robustRange", () => {
  it("is symmetric for signed maps and uses |v|", () => {
    const values = new Float32Array([-4, 1, 2, -0.5]);
    const r = robustRange(values, { signed: true, percentile: 100 });
    expect(r).toEqual({ vmin: -4, vmax: 4 });
  });

  it("uses the percentile, not the max, so one outlier does not wash out the map", () => {
    const values = new Float32Array(1000);
    for (let i = 0; i < 1000; i++) values[i] = (i % 100) / 100;
    values[0] = 1000;
    const r = robustRange(values, { signed: true });
    expect(r.vmax).toBeLessThan(2);
    expect(r.vmin).toBe(-r.vmax);
    const u = robustRange(values, { signed: false });
    expect(u.vmin).toBe(0);
    expect(u.vmax).toBeLessThan(2);
  });

  it("returns a non-degenerate range for all-zero and empty maps", () => {
    const zeros = new Float32Array(64);
    const s = robustRange(zeros, { signed: true });
    expect(s.vmax).toBeGreaterThan(s.vmin);
    expect(s.vmin).toBe(-s.vmax);
    const u = robustRange(zeros, { signed: false });
    expect(u.vmax).toBeGreaterThan(u.vmin);
    expect(u.vmin).toBe(0);
    const e = robustRange(new Float32Array(0), { signed: false });
    expect(e.vmax).toBeGreaterThan(e.vmin);
  });

  it("falls back to the maximum for sparse maps", () => {
    const sparse = new Float32Array(10000);
    sparse[17] = 3;
    expect(robustRange(sparse, { signed: false })).toEqual({ vmin: 0, vmax: 3 });
    expect(robustRange(sparse, { signed: true })).toEqual({ vmin: -3, vmax: 3 });
  });

  it("ignores masked and non-finite values", () => {
    const values = new Float32Array([1, 2, 500, NaN, -Infinity, 3]);
    const mask = new Uint8Array([0, 0, 1, 0, 0, 0]);
    expect(robustRange(values, { signed: true, percentile: 100, mask })).toEqual({ vmin: -3, vmax: 3 });
    expect(robustRange(values, { signed: false, percentile: 100, mask })).toEqual({ vmin: 0, vmax: 3 });
  });

  it("starts at 0 for non-negative unsigned maps and below 0 otherwise", () => {
    expect(robustRange(new Float32Array([2, 3, 4]), { signed: false, percentile: 100 }).vmin).toBe(0);
    const r = robustRange(new Float32Array([-2, 3, 4]), { signed: false, percentile: 100 });
    expect(r).toEqual({ vmin: -2, vmax: 4 });
  });
});
