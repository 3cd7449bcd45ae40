import { describe, expect, it } from "vitest";
import { cropRGBA, sanitizeThumbsMeta, thumbRect } from "./thumbs";

describe("thumbnails", () => {
  it("thumbRect: side by side, wrapping when the picture is narrower", () => {
    expect(thumbRect(2, 10, 40)).toEqual({ x: 20, y: 0, w: 10, h: 10 });
    expect(thumbRect(5, 10, 40)).toEqual({ x: 10, y: 10, w: 10, h: 10 });
    expect(thumbRect(3, 8, 32)).toEqual({ x: 24, y: 0, w: 8, h: 8 });
  });

  it("cropRGBA copies a rectangle; outside the picture is transparent", () => {
    // 3×2 picture, pixel (x, y) = [x, y, 9, 255]
    const pic = new Uint8ClampedArray(3 * 2 * 4);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) pic.set([x, y, 9, 255], (y * 3 + x) * 4);
    expect(Array.from(cropRGBA(pic, 3, 2, { x: 1, y: 0, w: 2, h: 2 }))).toEqual([
      1, 0, 9, 255, 2, 0, 9, 255,
      1, 1, 9, 255, 2, 1, 9, 255,
    ]);
    expect(Array.from(cropRGBA(pic, 3, 2, { x: 2, y: 1, w: 2, h: 1 }))).toEqual([2, 1, 9, 255, 0, 0, 0, 0]);
  });

  it("sanitizeThumbsMeta: labels as strings, one per example", () => {
    expect(sanitizeThumbsMeta({ n: 3, thumb: 32, encoding: "webp", labels: ["a", 7] })).toEqual({
      n: 3,
      thumb: 32,
      encoding: "webp",
      labels: ["a", "7", "2"],
    });
    expect(sanitizeThumbsMeta(null).n).toBe(0);
  });
});
