import { describe, expect, it } from "vitest";
import { isPictureEncoding, levelsToMap } from "./picture";

const grey = (levels: number[]) => {
  const rgba = new Uint8ClampedArray(levels.length * 4);
  levels.forEach((v, i) => rgba.set([v, v, v, 255], i * 4));
  return rgba;
};

describe("levelsToMap", () => {
  it("maps 0..255 linearly onto lo..hi", () => {
    const { values, mask } = levelsToMap(grey([0, 255, 51]), -1, 4, null);
    expect(Array.from(values)).toEqual([-1, 4, expect.closeTo(0, 6)]);
    expect(mask).toBeNull();
  });

  it("returns the masked cells as 1 and their values as 0", () => {
    const { values, mask } = levelsToMap(grey([255, 255, 0]), 2, 3, grey([0, 1, 0]));
    expect(Array.from(mask!)).toEqual([0, 1, 0]);
    expect(Array.from(values)).toEqual([3, 0, 2]);
  });

  it("a constant map (lo = hi) decodes to lo", () => {
    expect(Array.from(levelsToMap(grey([0, 0]), 5, 5, null).values)).toEqual([5, 5]);
  });

  it("refuses a mask of another size", () => {
    expect(() => levelsToMap(grey([0, 0]), 0, 1, grey([0]))).toThrow(/mask/);
  });
});

describe("isPictureEncoding", () => {
  it("knows the encodings the kernel writes, and nothing else", () => {
    expect(["png", "webp", "jpeg"].every(isPictureEncoding)).toBe(true);
    expect(isPictureEncoding("gif")).toBe(false);
    expect(isPictureEncoding(undefined)).toBe(false);
  });
});
