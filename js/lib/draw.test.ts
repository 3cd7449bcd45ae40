import { describe, expect, it } from "vitest";
import { composite, fitSize, imageDims, imageToRGBA, resampleMap } from "./draw";

const rgba = (...px: number[][]): Uint8ClampedArray => new Uint8ClampedArray(px.flat());

describe("composite", () => {
  const image = rgba([10, 20, 30, 255], [200, 100, 50, 255]);
  const heat = rgba([250, 0, 0, 255], [0, 0, 250, 128]);

  it("opacity 0 gives the image", () => {
    expect(Array.from(composite(image, heat, 0))).toEqual(Array.from(image));
  });

  it("opacity 1 gives the heatmap where its alpha is 255", () => {
    const out = composite(image, heat, 1);
    expect(Array.from(out.subarray(0, 4))).toEqual([250, 0, 0, 255]);
  });

  it("blends linearly in between", () => {
    const out = composite(image, heat, 0.5);
    expect(Array.from(out.subarray(0, 4))).toEqual([130, 10, 15, 255]);
    // half-transparent heat at half opacity: weight 128/255 * 0.5
    const a = (128 / 255) * 0.5;
    expect(out[4]).toBe(Math.round(200 * (1 - a)));
    expect(out[6]).toBe(Math.round(250 * a + 50 * (1 - a)));
    expect(out[7]).toBe(255);
  });

  it("changes the output when opacity changes", () => {
    const a = Array.from(composite(image, heat, 0.3));
    const b = Array.from(composite(image, heat, 0.7));
    expect(a).not.toEqual(b);
  });

  it("transparent heat pixels leave the image untouched", () => {
    const out = composite(image, rgba([255, 255, 255, 0], [255, 255, 255, 0]), 1);
    expect(Array.from(out)).toEqual(Array.from(image));
  });

  it("works without an image (transparent background)", () => {
    const out = composite(null, rgba([100, 50, 0, 255]), 0.5);
    expect(Array.from(out)).toEqual([100, 50, 0, 128]);
  });

  it("rejects mismatched sizes", () => {
    expect(() => composite(image, rgba([1, 2, 3, 4]), 0.5)).toThrow(/blend/);
  });
});

describe("imageToRGBA", () => {
  it("expands grey, RGB and RGBA", () => {
    expect(Array.from(imageToRGBA(new Uint8Array([7, 200]), 1, 2, 1))).toEqual([7, 7, 7, 255, 200, 200, 200, 255]);
    expect(Array.from(imageToRGBA(new Uint8Array([1, 2, 3]), 1, 1, 3))).toEqual([1, 2, 3, 255]);
    expect(Array.from(imageToRGBA(new Uint8Array([1, 2, 3, 4]), 1, 1, 4))).toEqual([1, 2, 3, 4]);
  });

  it("validates channels and length", () => {
    expect(() => imageToRGBA(new Uint8Array(4), 1, 2, 2)).toThrow(/channels/);
    expect(() => imageToRGBA(new Uint8Array(5), 1, 2, 3)).toThrow(/bytes/);
  });

  it("reads [H, W] and [H, W, C] shapes", () => {
    expect(imageDims([8, 8])).toEqual({ h: 8, w: 8, c: 1 });
    expect(imageDims([4, 5, 3])).toEqual({ h: 4, w: 5, c: 3 });
    expect(() => imageDims([1, 2, 3, 4])).toThrow(/shape/);
  });
});

describe("resampleMap", () => {
  it("returns the input when the size matches", () => {
    const v = new Float32Array([1, 2, 3, 4]);
    expect(resampleMap(v, null, 2, 2, 2, 2).values).toBe(v);
  });

  it("upsamples bilinearly and the mask by nearest neighbour", () => {
    const v = new Float32Array([0, 1]);
    const m = new Uint8Array([0, 1]);
    const r = resampleMap(v, m, 1, 2, 1, 4);
    expect(Array.from(r.values)).toEqual([0, 0.25, 0.75, 1]);
    expect(Array.from(r.mask!)).toEqual([0, 0, 1, 1]);
  });
});

describe("fitSize", () => {
  it("uses an integer scale for small images", () => {
    expect(fitSize(8, 8, 280)).toEqual({ width: 280, height: 280, scale: 35 });
    expect(fitSize(28, 28, 280).scale).toBe(10);
    expect(fitSize(30, 30, 280).scale).toBe(9);
  });

  it("shrinks large images so the longest side fits", () => {
    const s = fitSize(427, 640, 280);
    expect(s.width).toBe(280);
    expect(s.height).toBe(Math.round(427 * (280 / 640)));
  });
});
