import { describe, expect, it } from "vitest";
import {
  baselineEntries,
  customBaseline,
  extent,
  foldTopK,
  lutIndex,
  niceTicks,
  normalizeColumn,
  nudge,
  numberList,
  orderByMeanAbs,
  othersLabel,
  signedColor,
  sortByMagnitude,
  sumCheck,
  swarmOffsets,
  valueAtX,
  waterfallSteps,
  withBaseline,
} from "./bars";

const feats = (values: (number | null)[]) => values.map((value, index) => ({ index, name: `f${index}`, value }));

describe("sortByMagnitude", () => {
  it("orders by |value| descending, nulls last, ties by index", () => {
    const out = sortByMagnitude(feats([0.1, -0.5, 0.3, null, -0.3, 0]));
    expect(out.map((f) => f.index)).toEqual([1, 2, 4, 0, 5, 3]);
  });
  it("does not change its input", () => {
    const input = feats([1, -2]);
    sortByMagnitude(input);
    expect(input.map((f) => f.index)).toEqual([0, 1]);
  });
});

describe("foldTopK", () => {
  const sorted = sortByMagnitude(feats([0.1, -0.5, 0.3, 0.05, -0.2]));
  it("keeps the top k and folds the rest into their sum", () => {
    const { shown, others } = foldTopK(sorted, 2);
    expect(shown.map((f) => f.name)).toEqual(["f1", "f2"]);
    expect(others!.count).toBe(3);
    expect(others!.sum).toBeCloseTo(-0.2 + 0.1 + 0.05, 12);
    expect(others!.names).toEqual(["f4", "f0", "f3"]);
  });
  it("folds nothing when k >= n; k is clamped to at least 1", () => {
    expect(foldTopK(sorted, 5).others).toBeNull();
    expect(foldTopK(sorted, 50).shown).toHaveLength(5);
    expect(foldTopK(sorted, 0).shown).toHaveLength(1);
    expect(foldTopK(sorted, 2.6).shown).toHaveLength(3);
  });
  it("skips null values in the sum", () => {
    const { others } = foldTopK(sortByMagnitude(feats([1, null, 0.5])), 1);
    expect(others).toEqual({ count: 2, sum: 0.5, names: ["f2", "f1"] });
  });
  it("labels the folded bar", () => {
    expect(othersLabel(3)).toBe("3 others");
    expect(othersLabel(1)).toBe("1 other");
  });
});

describe("waterfall and the sum check", () => {
  it("cumulates from the base at the bottom to the prediction at the top", () => {
    const steps = waterfallSteps([3, -1, 0.5], 10);
    expect(steps).toEqual([
      { start: 9.5, end: 12.5 },
      { start: 10.5, end: 9.5 },
      { start: 10, end: 10.5 },
    ]);
    expect(waterfallSteps([null, 2], 1)).toEqual([
      { start: 3, end: 3 },
      { start: 1, end: 3 },
    ]);
  });
  it("checks that the values add up to prediction − base within 1e-6 of the scale", () => {
    const ok = sumCheck([0.25, -0.5, 1], 2, 2.75);
    expect(ok.ok).toBe(true);
    expect(ok.sum).toBeCloseTo(0.75);
    expect(ok.expected).toBeCloseTo(0.75);
    expect(sumCheck([0.25, -0.5, 1], 2, 2.75 + 1e-9).ok).toBe(true);
    const bad = sumCheck([0.25, -0.5, 1], 2, 2.76);
    expect(bad.ok).toBe(false);
    expect(bad.diff).toBeCloseTo(0.01, 9);
    // the tolerance scales with the magnitudes
    expect(sumCheck([1e6], 1e6, 2e6 + 1).ok).toBe(true);
    expect(sumCheck([1, null], 0, 1).missing).toBe(1);
  });
});

describe("scales and handles", () => {
  it("extent includes 0 and is never degenerate", () => {
    expect(extent([1, 3])).toEqual([0, 3]);
    expect(extent([1, 3], false)).toEqual([1, 3]);
    expect(extent([null, NaN])).toEqual([-1, 1]);
    expect(extent([2], false)).toEqual([1, 3]);
  });
  it("valueAtX maps the axis onto min..max, clamped", () => {
    expect(valueAtX(150, 100, 200, 20, 60)).toBe(40);
    expect(valueAtX(0, 100, 200, 20, 60)).toBe(20);
    expect(valueAtX(999, 100, 200, 20, 60)).toBe(60);
    expect(valueAtX(150, 100, 200, 5, 5)).toBe(5);
  });
  it("nudge moves by 1% of the range, clamped", () => {
    expect(nudge(30, 20, 60, 1)).toBe(30.4);
    expect(nudge(30, 20, 60, -1)).toBe(29.6);
    expect(nudge(59.9, 20, 60, 1)).toBe(60);
    expect(nudge(0.3, 0, 1, 1)).toBe(0.31);
  });
  it("niceTicks gives round values inside the domain", () => {
    expect(niceTicks(-0.13, 0.52, 4)).toEqual([0, 0.2, 0.4]);
    expect(niceTicks(-0.13, 0.52, 8)).toEqual([-0.1, 0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(niceTicks(1, 1)).toEqual([]);
  });
});

describe("the baseline dict", () => {
  it("reads own finite entries only", () => {
    expect(baselineEntries({ a: 1, b: "x", c: NaN, d: null })).toEqual([["a", 1]]);
    expect(baselineEntries(null)).toEqual([]);
    expect(customBaseline({}, "constructor")).toBeNull();
    expect(customBaseline({}, "__proto__")).toBeNull();
    expect(customBaseline({ a: 2 }, "a")).toBe(2);
  });
  it("withBaseline adds, replaces and removes without touching the old dict", () => {
    const old = { a: 1, b: 2 };
    expect(withBaseline(old, "c", 3)).toEqual({ a: 1, b: 2, c: 3 });
    expect(withBaseline(old, "a", 5)).toEqual({ a: 5, b: 2 });
    expect(withBaseline(old, "a", null)).toEqual({ b: 2 });
    expect(old).toEqual({ a: 1, b: 2 });
    const proto = withBaseline({}, "__proto__", 1);
    expect(Object.keys(proto)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
  });
});

describe("beeswarm helpers", () => {
  it("orders features by mean |attribution|", () => {
    expect(
      orderByMeanAbs(
        [
          [0.1, -1, 0.2],
          [0.1, 1, -0.4],
        ],
        3,
      ),
    ).toEqual([1, 2, 0]);
  });
  it("normalises a feature's values to 0..1 (constant: 0.5, null stays)", () => {
    expect(normalizeColumn([10, 20, null, 30])).toEqual([0, 0.5, null, 1]);
    expect(normalizeColumn([4, 4])).toEqual([0.5, 0.5]);
  });
  it("stacks dots of a bin alternately up and down, deterministically, within the bound", () => {
    const xs = [10, 10.2, 10.9, 50, 10.1, null];
    const a = swarmOffsets(xs, 4, 3, 100);
    expect(a).toEqual([0, 3, -3, 0, 6, 0]);
    expect(swarmOffsets(xs, 4, 3, 100)).toEqual(a);
    const tight = swarmOffsets([1, 1, 1, 1, 1], 4, 3, 2);
    expect(Math.max(...tight.map(Math.abs))).toBeLessThanOrEqual(2);
    expect(new Set(tight).size).toBe(5);
  });
});

describe("colours", () => {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.set([i, 0, 255 - i], i * 3);
  it("lutIndex follows matplotlib (floor(t·256), 255 at 1)", () => {
    expect(lutIndex(0)).toBe(0);
    expect(lutIndex(0.5)).toBe(128);
    expect(lutIndex(1)).toBe(255);
    expect(lutIndex(2)).toBe(255);
  });
  it("signedColor: symmetric range, null for non-finite", () => {
    expect(signedColor(2, 2, lut)!.bg).toBe("rgb(255, 0, 0)");
    expect(signedColor(-2, 2, lut)!.bg).toBe("rgb(0, 0, 255)");
    expect(signedColor(null, 2, lut)).toBeNull();
  });
  it("numberList: non-finite numbers and non-numbers are null; a wrong length is refused", () => {
    expect(numberList([1, null, "x", Infinity])).toEqual([1, null, null, null]);
    expect(numberList([1, 2], 3)).toBeNull();
    expect(numberList("no")).toBeNull();
  });
});
