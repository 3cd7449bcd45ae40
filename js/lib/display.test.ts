import { describe, expect, it } from "vitest";
import { colorize, resolveLut } from "./colormap";
import { applySign, colorizePrepared, displayRange, drawnCells, prepareMap, renderMap, sharedRange, topKMask } from "./display";

const f32 = (a: number[]) => new Float32Array(a);
const arr = (a: ArrayLike<number> | null) => (a === null ? null : Array.from(a));

/** A hand-made table: entry i = (i, 255 - i, 7). */
function rampLut(): Uint8Array {
  const lut = new Uint8Array(768);
  for (let i = 0; i < 256; i++) lut.set([i, 255 - i, 7], i * 3);
  return lut;
}

describe("colorize with a LUT", () => {
  it("indexes floor(t·256) (255 at the top), clips outside [vmin, vmax], opaque", () => {
    const rgba = colorize(f32([0, 0.5, 1, -1, 0.25]), null, { lut: rampLut(), vmin: 0, vmax: 1 });
    expect(Array.from(rgba)).toEqual([
      0, 255, 7, 255,
      128, 127, 7, 255,
      255, 0, 7, 255,
      0, 255, 7, 255,
      64, 191, 7, 255,
    ]);
  });

  it("a diverging LUT with alpha by magnitude: transparent at the centre, opaque at the ends", () => {
    const rgba = colorize(f32([-2, 0, 2, 1]), null, { lut: rampLut(), diverging: true, alphaByMagnitude: true, vmin: -2, vmax: 2 });
    expect(rgba[3]).toBe(255);
    expect(rgba[7]).toBe(0);
    expect(rgba[11]).toBe(255);
    expect(rgba[15]).toBe(128); // t = 0.75: |0.75 - 0.5|·2 = 0.5 -> 127.5 -> 128
    expect(Array.from(rgba.subarray(4, 7))).toEqual([128, 127, 7]);
  });
});

describe("applySign", () => {
  const values = f32([-2, 0, 3, NaN]);

  it("both: the values unchanged (no copy)", () => {
    const r = applySign(values, null, true, "both");
    expect(r.values).toBe(values);
    expect(r.signed).toBe(true);
    expect(r.mask).toBeNull();
  });

  it("positive: the positive values, everything else masked", () => {
    const r = applySign(values, null, true, "positive");
    expect(arr(r.values)).toEqual([0, 0, 3, 0]);
    expect(arr(r.mask)).toEqual([1, 1, 0, 1]);
    expect(r.signed).toBe(false);
  });

  it("negative: the magnitudes of the negative values", () => {
    const r = applySign(values, null, true, "negative");
    expect(arr(r.values)).toEqual([2, 0, 0, 0]);
    expect(arr(r.mask)).toEqual([0, 1, 1, 1]);
    expect(r.signed).toBe(false);
  });

  it("absolute: |v| everywhere; non-finite and masked cells stay hidden", () => {
    const r = applySign(values, new Uint8Array([0, 1, 0, 0]), true, "absolute");
    expect(arr(r.values)).toEqual([2, 0, 3, 0]);
    expect(arr(r.mask)).toEqual([0, 1, 0, 1]);
  });
});

describe("topKMask", () => {
  const values = f32([1, -5, 3, 2, 0.5, -4, 0, 6, 2.5, -1]);

  it("keeps the k% of cells with the largest |value|", () => {
    expect(arr(topKMask(values, null, 30))).toEqual([1, 0, 1, 1, 1, 0, 1, 0, 1, 1]);
    expect(arr(topKMask(values, null, 25))).toEqual([1, 0, 1, 1, 1, 0, 1, 0, 1, 1]); // ceil(2.5) = 3
    expect(arr(topKMask(values, null, 1))).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 1, 1]); // at least one
  });

  it("100% hides nothing and returns the mask as it was", () => {
    expect(topKMask(values, null, 100)).toBeNull();
    const m = new Uint8Array(10);
    expect(topKMask(values, m, 100)).toBe(m);
  });

  it("keeps the ties of the last cell kept", () => {
    expect(arr(topKMask(f32([1, 1, 1, 0]), null, 25))).toEqual([0, 0, 0, 1]);
  });

  it("ignores masked and non-finite cells and counts the given area", () => {
    const mask = new Uint8Array([0, 1, 0, 0]);
    // drawn: 3 (|v| 1), NaN skipped; area 4 at 50% -> 2 cells: 3 and 1
    expect(arr(topKMask(f32([1, 9, 3, NaN]), mask, 50, 4))).toEqual([0, 1, 0, 0]);
    expect(drawnCells(f32([1, 9, 3, NaN]), mask)).toBe(2);
  });
});

describe("prepareMap", () => {
  it("positive at 30% of the area: the positive cells among the top 3 of 10", () => {
    const p = prepareMap({ values: f32([1, -5, 3, 2, 0.5, -4, 0, 6, 2.5, -1]), mask: null, signed: true }, { sign: "positive", topK: 30 });
    // positives by size: 6, 3, 2.5 (area = 10 cells -> 3 kept)
    expect(arr(p.mask)).toEqual([1, 1, 0, 1, 1, 1, 1, 0, 0, 1]);
    expect(p.signed).toBe(false);
  });

  it("both at 100%: the map itself", () => {
    const values = f32([1, -2]);
    const p = prepareMap({ values, mask: null, signed: true }, { sign: "both", topK: 100 });
    expect(p.values).toBe(values);
    expect(p.mask).toBeNull();
  });
});

describe("displayRange (clip)", () => {
  it("unsigned: [0, the clip percentile]", () => {
    const values = f32(Array.from({ length: 100 }, (_, i) => i + 1));
    const r = displayRange({ values, mask: null, signed: false }, 90);
    expect(r.vmin).toBe(0);
    expect(r.vmax).toBeCloseTo(90.1, 6); // 0.9·99 = 89.1 -> 90 + 0.1·1
  });

  it("signed: symmetric, the clip percentile of |v|", () => {
    const values = f32([-10, 1, 2, 3, 4]);
    expect(displayRange({ values, mask: null, signed: true }, 100)).toEqual({ vmin: -10, vmax: 10 });
    expect(displayRange({ values, mask: null, signed: true }, 50)).toEqual({ vmin: -3, vmax: 3 });
  });
});

describe("sharedRange", () => {
  it("one range over all maps, symmetric when any is signed", () => {
    const a = { values: f32([0, 1, 2, 3]), mask: null, signed: false };
    const b = { values: f32([-4, 0, 0, 0]), mask: null, signed: true };
    expect(sharedRange([a, b], 100)).toEqual({ vmin: -4, vmax: 4 });
    expect(sharedRange([a], 100)).toEqual({ vmin: 0, vmax: 3 });
    expect(sharedRange([], 100)).toBeNull();
  });

  it("masked cells do not count", () => {
    const a = { values: f32([0, 100]), mask: new Uint8Array([0, 1]), signed: false };
    const b = { values: f32([2, 1]), mask: null, signed: false };
    expect(sharedRange([a, b], 100)).toEqual({ vmin: 0, vmax: 2 });
  });
});

describe("renderMap / colorizePrepared", () => {
  it("draws with the kernel's table and a given range", () => {
    const lut = rampLut();
    const luts = { names: ["inferno"], bytes: lut };
    const r = renderMap({ values: f32([0, 1, 2]), mask: null, signed: false }, { sign: "both", topK: 100, colormap: "auto", clip: 100, luts, range: { vmin: 0, vmax: 2 } });
    expect(r.cmap.name).toBe("inferno");
    expect(Array.from(r.rgba)).toEqual([0, 255, 7, 255, 128, 127, 7, 255, 255, 0, 7, 255]);
  });

  it("hidden cells are transparent", () => {
    const cmap = resolveLut("inferno", false, null);
    const rgba = colorizePrepared({ values: f32([1, 2]), mask: new Uint8Array([1, 0]), signed: false }, { vmin: 0, vmax: 2 }, cmap);
    expect(rgba[3]).toBe(0);
    expect(rgba[7]).toBe(255);
  });
});
