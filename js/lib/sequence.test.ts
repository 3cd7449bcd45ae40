import { describe, expect, it } from "vitest";
import { clampStep, seqLayout, stepAt, transposeTD, valuesAtStep } from "./sequence";

describe("sequence helpers", () => {
  it("transposes T×D (time-major) into a D×T raster", () => {
    // T = 2, D = 3: [[1,2,3],[4,5,6]]
    const { values, mask } = transposeTD([1, 2, 3, 4, 5, 6], new Uint8Array([0, 1, 0, 0, 0, 0]), 2, 3);
    expect(Array.from(values)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(mask!)).toEqual([0, 0, 1, 0, 0, 0]);
  });
  it("reads the D values of a step (masked: null)", () => {
    expect(valuesAtStep([1, 2, 3, 4, 5, NaN], new Uint8Array([0, 1, 0, 0, 0, 0]), 2, 3, 0)).toEqual([1, null, 3]);
    expect(valuesAtStep([1, 2, 3, 4, 5, NaN], null, 2, 3, 1)).toEqual([4, 5, null]);
    expect(valuesAtStep([1], null, 1, 1, 3)).toEqual([]);
  });
  it("finds the step under the pointer, clamped", () => {
    expect(stepAt(0, 0, 100, 4)).toBe(0);
    expect(stepAt(49.9, 0, 100, 4)).toBe(1);
    expect(stepAt(75, 0, 100, 4)).toBe(3);
    expect(stepAt(500, 0, 100, 4)).toBe(3);
    expect(stepAt(-5, 0, 100, 4)).toBe(0);
    expect(stepAt(50, 0, 0, 4)).toBe(0);
  });
  it("clamps the cursor trait", () => {
    expect(clampStep(7, 4)).toBe(3);
    expect(clampStep(-1, 4)).toBe(0);
    expect(clampStep("x", 4)).toBe(0);
  });
  it("sizes the map: rows of at most 18 px, labels when they are readable", () => {
    expect(seqLayout(100, 3)).toMatchObject({ height: 54, cellH: 18, labels: true });
    const many = seqLayout(100, 120);
    expect(many.height).toBeLessThanOrEqual(240);
    expect(many.labels).toBe(false);
  });
});
