import { describe, expect, it } from "vitest";
import { chartGeometry, sanitizeCurve } from "./chart";

const box = { width: 100, height: 50, pad: { left: 0, right: 0, top: 0, bottom: 0 } };

describe("sanitizeCurve", () => {
  it("keeps [steps, |delta|] pairs of finite numbers, sorted by steps", () => {
    expect(sanitizeCurve([[50, -0.1], [10, 0.5], ["x", 1], [20], null, [30, NaN]])).toEqual([
      [10, 0.5],
      [50, 0.1],
    ]);
    expect(sanitizeCurve("nope")).toEqual([]);
  });
});

describe("chartGeometry", () => {
  it("log y when |Δ| spans more than a factor 10", () => {
    const g = chartGeometry([[10, 1], [20, 0.01]], box)!;
    expect(g.log).toBe(true);
    expect(g.xy).toEqual([
      [0, 0],
      [100, 50],
    ]);
    expect(g.yMin).toBeCloseTo(0.01, 10);
    expect(g.yMax).toBeCloseTo(1, 10);
  });

  it("linear y from 0 otherwise", () => {
    const g = chartGeometry([[1, 2], [3, 4]], box)!;
    expect(g.log).toBe(false);
    expect(g.xy).toEqual([
      [0, 25],
      [100, 0],
    ]);
  });

  it("one point or none", () => {
    expect(chartGeometry([], box)).toBeNull();
    const g = chartGeometry([[50, 0.2]], box)!;
    expect(g.xy).toHaveLength(1);
    expect(g.xy[0][0]).toBe(50);
  });
});
