import { describe, expect, it } from "vitest";
import { brushRadius, clientToRaster, countPainted, maskFromBytes, maskToRGBA, maskToTrait, paintSegment } from "./paint";

/** The mask as rows of 0/1 strings, for readable expectations. */
const rows = (mask: Uint8Array, w: number): string[] => {
  const out: string[] = [];
  for (let i = 0; i < mask.length; i += w) out.push(Array.from(mask.subarray(i, i + w)).join(""));
  return out;
};

describe("clientToRaster", () => {
  const box = { left: 10, top: 20, width: 280, height: 140 };
  it("maps the element's box onto the raster (not CSS pixels)", () => {
    expect(clientToRaster(10, 20, box, 8, 4)).toEqual({ x: 0, y: 0 });
    expect(clientToRaster(290, 160, box, 8, 4)).toEqual({ x: 8, y: 4 });
    expect(clientToRaster(150, 90, box, 8, 4)).toEqual({ x: 4, y: 2 });
    expect(clientToRaster(45, 55, box, 8, 4)).toEqual({ x: 1, y: 1 });
  });
  it("null without a size", () => {
    expect(clientToRaster(1, 1, { left: 0, top: 0, width: 0, height: 0 }, 8, 4)).toBeNull();
    expect(clientToRaster(1, 1, box, 0, 4)).toBeNull();
  });
});

describe("brushRadius", () => {
  it("converts a diameter in display px to raster cells", () => {
    expect(brushRadius(24, 280, 8)).toBeCloseTo(12 * (8 / 280), 10);
    expect(brushRadius(20, 100, 200)).toBe(20);
    expect(brushRadius(20, 0, 8)).toBe(0);
  });
});

describe("paintSegment", () => {
  it("a dot of radius 0 paints the cell under the pointer", () => {
    const m = new Uint8Array(16);
    expect(paintSegment(m, 4, 4, 2.5, 1.5, 2.5, 1.5, 0, 1)).toBe(1);
    expect(rows(m, 4)).toEqual(["0000", "0010", "0000", "0000"]);
  });

  it("a dot on a cell corner still paints the cell under it", () => {
    const m = new Uint8Array(16);
    paintSegment(m, 4, 4, 2, 2, 2, 2, 0.3, 1);
    expect(rows(m, 4)).toEqual(["0000", "0000", "0010", "0000"]);
  });

  it("a dot of radius 1: the cells whose centre is within 1", () => {
    const m = new Uint8Array(16);
    expect(paintSegment(m, 4, 4, 2.5, 1.5, 2.5, 1.5, 1, 1)).toBe(5);
    expect(rows(m, 4)).toEqual(["0010", "0111", "0010", "0000"]);
  });

  it("a horizontal stroke paints a band", () => {
    const m = new Uint8Array(12);
    paintSegment(m, 4, 3, 0.5, 0.5, 3.5, 0.5, 0.5, 1);
    expect(rows(m, 4)).toEqual(["1111", "0000", "0000"]);
  });

  it("a diagonal stroke paints the diagonal; strokes are clipped to the raster", () => {
    const m = new Uint8Array(16);
    paintSegment(m, 4, 4, 0, 0, 4, 4, 0, 1);
    expect(rows(m, 4)).toEqual(["1000", "0100", "0010", "0001"]);
    const n = new Uint8Array(16);
    paintSegment(n, 4, 4, -10, -10, -9, -9, 1, 1);
    expect(countPainted(n)).toBe(0);
  });

  it("erasing sets cells to 0 and counts what changed", () => {
    const m = new Uint8Array(16).fill(1);
    expect(paintSegment(m, 4, 4, 0.5, 0.5, 0.5, 3.5, 0.5, 0)).toBe(4);
    expect(rows(m, 4)).toEqual(["0111", "0111", "0111", "0111"]);
    expect(paintSegment(m, 4, 4, 0.5, 0.5, 0.5, 3.5, 0.5, 0)).toBe(0);
  });

  it("refuses a mask of the wrong size", () => {
    expect(paintSegment(new Uint8Array(3), 2, 2, 0.5, 0.5, 0.5, 0.5, 1, 1)).toBe(0);
  });
});

describe("mask <-> trait bytes", () => {
  it("maskToTrait: a DataView over uint8 H×W (1 = painted), empty when nothing is painted", () => {
    const mask = new Uint8Array([0, 1, 0, 1, 1, 0]);
    const dv = maskToTrait(mask);
    expect(dv).toBeInstanceOf(DataView);
    expect(Array.from(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength))).toEqual([0, 1, 0, 1, 1, 0]);
    mask[1] = 0; // a copy: later strokes do not change what was written
    expect(new Uint8Array(dv.buffer)[1]).toBe(1);
    expect(maskToTrait(new Uint8Array(6)).byteLength).toBe(0);
  });

  it("maskFromBytes: the trait's bytes for this raster, or an empty mask", () => {
    const big = new Uint8Array([9, 9, 0, 255, 1, 0, 0, 1, 9]);
    expect(Array.from(maskFromBytes(new DataView(big.buffer, 2, 6), 2, 3))).toEqual([0, 1, 1, 0, 0, 1]);
    expect(Array.from(maskFromBytes(new DataView(new ArrayBuffer(4)), 2, 3))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(maskFromBytes(null, 1, 2))).toEqual([0, 0]);
    expect(Array.from(maskFromBytes("garbage", 1, 2))).toEqual([0, 0]);
  });

  it("maskToRGBA colours the painted cells only", () => {
    expect(Array.from(maskToRGBA(new Uint8Array([1, 0]), [1, 2, 3]))).toEqual([1, 2, 3, 255, 0, 0, 0, 0]);
  });
});
