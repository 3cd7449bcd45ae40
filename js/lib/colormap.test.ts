import { describe, expect, it } from "vitest";
import { colorize, cssGradient, cssGradientOf, getLut, isDivergingName, lutColor, lutOf, lutSource, resolveColormap, resolveLut, resolveSequentialLut } from "./colormap";

/** WCAG relative luminance (linearised sRGB), in which matplotlib's inferno is strictly increasing. */
const linear = (c: number): number => {
  const s = c / 255;
  return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
};
const luminance = (r: number, g: number, b: number): number =>
  0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);

function near(actual: number[], expected: number[], tol: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(tol));
}

describe("lookup tables", () => {
  it("have 256 RGB entries", () => {
    for (const name of ["inferno", "viridis", "rdbu"]) expect(getLut(name).length).toBe(768);
  });

  it("inferno matches matplotlib at the ends and in between", () => {
    near(lutColor("inferno", 0), [0, 0, 4], 1);
    near(lutColor("inferno", 255), [252, 255, 164], 1);
    // matplotlib.colormaps["inferno"].colors[i] * 255, rounded
    near(lutColor("inferno", 64), [87, 16, 110], 2);
    near(lutColor("inferno", 192), [249, 142, 9], 2);
    near(lutColor("inferno", 200), [251, 157, 7], 2);
  });

  it("viridis matches matplotlib", () => {
    near(lutColor("viridis", 0), [68, 1, 84], 1);
    near(lutColor("viridis", 128), [33, 145, 140], 2);
    near(lutColor("viridis", 192), [94, 201, 98], 2);
    near(lutColor("viridis", 255), [253, 231, 37], 1);
  });

  it("inferno luminance increases monotonically", () => {
    const lut = getLut("inferno");
    let prev = -1;
    for (let i = 0; i < 256; i++) {
      const y = luminance(lut[3 * i], lut[3 * i + 1], lut[3 * i + 2]);
      expect(y).toBeGreaterThan(prev);
      prev = y;
    }
  });

  it("rdbu is blue for negative, white-ish at the centre, red for positive", () => {
    const [r0, g0, b0] = lutColor("rdbu", 0);
    expect(b0).toBeGreaterThan(r0 + 50);
    const [r1, g1, b1] = lutColor("rdbu", 255);
    expect(r1).toBeGreaterThan(b1 + 50);
    for (const i of [127, 128]) {
      const c = lutColor("rdbu", i);
      for (const v of c) expect(v).toBeGreaterThanOrEqual(240);
    }
    expect(g0).toBeLessThan(100);
    expect(g1).toBeLessThan(100);
  });

  it("resolves auto by sign", () => {
    expect(resolveColormap("auto", true)).toBe("rdbu");
    expect(resolveColormap("auto", false)).toBe("inferno");
    expect(resolveColormap("viridis", true)).toBe("viridis");
    expect(resolveColormap("bogus", false)).toBe("inferno");
  });

  it("builds a CSS gradient for the colour bar", () => {
    const g = cssGradient("inferno", 3);
    expect(g.startsWith("linear-gradient(to right, rgb(0, 0, 4) 0.00%")).toBe(true);
    expect(g.endsWith("rgb(252, 255, 164) 100.00%)")).toBe(true);
  });
});

describe("colorize", () => {
  it("maps vmin/vmax to the LUT ends and clips outside", () => {
    const rgba = colorize(new Float32Array([0, 1, -5, 9]), null, { cmap: "inferno", vmin: 0, vmax: 1 });
    expect(Array.from(rgba.subarray(0, 4))).toEqual([...lutColor("inferno", 0), 255]);
    expect(Array.from(rgba.subarray(4, 8))).toEqual([...lutColor("inferno", 255), 255]);
    expect(Array.from(rgba.subarray(8, 12))).toEqual(Array.from(rgba.subarray(0, 4)));
    expect(Array.from(rgba.subarray(12, 16))).toEqual(Array.from(rgba.subarray(4, 8)));
  });

  it("makes masked and non-finite entries transparent", () => {
    const values = new Float32Array([0.5, 0.5, NaN, Infinity, 0.5]);
    const mask = new Uint8Array([0, 1, 0, 0, 0]);
    const rgba = colorize(values, mask, { cmap: "viridis", vmin: 0, vmax: 1 });
    expect(rgba[3]).toBe(255);
    expect(rgba[7]).toBe(0);
    expect(rgba[11]).toBe(0);
    expect(rgba[15]).toBe(0);
    expect(rgba[19]).toBe(255);
  });

  it("rdbu centre is white-ish and alpha can follow magnitude", () => {
    const rgba = colorize(new Float32Array([-1, 0, 1]), null, { cmap: "rdbu", vmin: -1, vmax: 1, alphaByMagnitude: true });
    for (let k = 0; k < 3; k++) expect(rgba[4 + k]).toBeGreaterThanOrEqual(240);
    expect(rgba[3]).toBe(255);
    expect(rgba[7]).toBeLessThanOrEqual(2);
    expect(rgba[11]).toBe(255);
    expect(rgba[2]).toBeGreaterThan(rgba[0]); // -1 is blue
    expect(rgba[8]).toBeGreaterThan(rgba[10]); // +1 is red
  });

  it("survives a degenerate range", () => {
    const rgba = colorize(new Float32Array([2, 2]), null, { cmap: "inferno", vmin: 2, vmax: 2 });
    expect(rgba[3]).toBe(255);
    expect(Array.from(rgba.subarray(0, 3))).toEqual(lutColor("inferno", 128));
  });
});

describe("the kernel's tables (colormap_names + colormap_lut)", () => {
  // three tables, each filled with one level: inferno = 10, viridis = 20, RdBu_r = 30
  const names = ["inferno", "viridis", "RdBu_r"];
  const bytes = new Uint8Array(3 * 768);
  names.forEach((_, i) => bytes.fill((i + 1) * 10, i * 768, (i + 1) * 768));

  it("lutSource checks the size: len(names)×256×3 bytes", () => {
    expect(lutSource(names, bytes)).not.toBeNull();
    expect(lutSource(names, bytes.subarray(0, 768))).toBeNull();
    expect(lutSource([], new Uint8Array(0))).toBeNull();
    expect(lutSource(names, null)).toBeNull();
    expect(lutSource([1, 2, 3], bytes)).toBeNull();
  });

  it("resolveLut: a name picks its table; auto = RdBu_r for signed maps, inferno otherwise", () => {
    const src = lutSource(names, bytes);
    expect(resolveLut("viridis", true, src).lut[0]).toBe(20);
    const signed = resolveLut("auto", true, src);
    expect([signed.name, signed.lut[5], signed.diverging]).toEqual(["RdBu_r", 30, true]);
    const unsigned = resolveLut("auto", false, src);
    expect([unsigned.name, unsigned.lut[767], unsigned.diverging]).toEqual(["inferno", 10, false]);
    expect(resolveLut("jet", false, src).name).toBe("inferno"); // not offered: auto
    expect(lutOf(src, "viridis")!.length).toBe(768);
  });

  it("falls back to the built-in tables only without the LUT trait", () => {
    const r = resolveLut("auto", true, null);
    expect(r.name).toBe("RdBu_r");
    expect(Array.from(r.lut)).toEqual(Array.from(getLut("rdbu")));
    expect(Array.from(resolveLut("viridis", false, null).lut)).toEqual(Array.from(getLut("viridis")));
    expect(resolveLut("RdBu_r", false, null).diverging).toBe(true);
  });

  it("a sequential map for the uncertainty: the setting unless it is diverging", () => {
    const src = lutSource(names, bytes);
    expect(resolveSequentialLut("viridis", src).name).toBe("viridis");
    expect(resolveSequentialLut("RdBu_r", src).name).toBe("inferno");
    expect(resolveSequentialLut("auto", src).name).toBe("inferno");
  });

  it("knows matplotlib's diverging maps", () => {
    for (const n of ["RdBu_r", "bwr", "coolwarm", "seismic", "PiYG", "Spectral_r"]) expect(isDivergingName(n)).toBe(true);
    for (const n of ["inferno", "viridis", "magma", "gray"]) expect(isDivergingName(n)).toBe(false);
  });

  it("cssGradientOf a table", () => {
    const lut = new Uint8Array(768);
    lut.set([1, 2, 3], 0);
    lut.set([4, 5, 6], 765);
    expect(cssGradientOf(lut, 2)).toBe("linear-gradient(to right, rgb(1, 2, 3) 0.00%, rgb(4, 5, 6) 100.00%)");
  });
});
