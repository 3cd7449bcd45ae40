// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { imageToRGBA } from "../lib/draw";
import { HeatmapView } from "./heatmap";

/** A kernel LUT: "inferno" = entry i is (i, i, i); "RdBu_r" = (255 - i, 0, i). */
function kernelLuts() {
  const bytes = new Uint8Array(2 * 768);
  for (let i = 0; i < 256; i++) {
    bytes.set([i, i, i], i * 3);
    bytes.set([255 - i, 0, i], 768 + i * 3);
  }
  return { names: ["inferno", "RdBu_r"], bytes };
}

function setup() {
  const v = new HeatmapView();
  v.setImage({ rgba: imageToRGBA(new Uint8Array([0, 50, 100, 150]), 2, 2, 1), h: 2, w: 2 });
  v.setMap({ values: new Float32Array([0, 1, 2, 3]), mask: null, h: 2, w: 2, signed: false });
  return v;
}

describe("HeatmapView", () => {
  it("pixels change with opacity", () => {
    const v = setup();
    v.setOpacity(0);
    const a = Array.from(v.pixels()!.rgba);
    expect(a.slice(0, 4)).toEqual([0, 0, 0, 255]);
    expect(a.slice(4, 8)).toEqual([50, 50, 50, 255]);
    v.setOpacity(1);
    const b = Array.from(v.pixels()!.rgba);
    expect(b).not.toEqual(a);
    expect(b.slice(12, 16)).toEqual([252, 255, 164, 255]); // max value -> inferno top
  });

  it("resamples a coarse map to the image size", () => {
    const v = new HeatmapView();
    v.setImage({ rgba: new Uint8ClampedArray(4 * 4 * 4).fill(255), h: 4, w: 4 });
    v.setMap({ values: new Float32Array([0, 1, 2, 3]), mask: null, h: 2, w: 2, signed: true });
    v.setOpacity(1);
    const px = v.pixels()!;
    expect(px.h).toBe(4);
    expect(px.rgba.length).toBe(64);
    expect(v.activeColormap()).toBe("RdBu_r");
  });

  it("sizes the canvas for display and shows a placeholder when empty", () => {
    const v = setup();
    v.draw();
    expect(v.canvas.style.width).toBe("280px");
    const empty = new HeatmapView();
    empty.draw();
    expect(empty.canvas.classList.contains("nbx-hidden")).toBe(true);
    expect(empty.el.querySelector(".nbx-placeholder")!.textContent).not.toBe("");
  });

  it("labels the colour bar with the range", () => {
    const v = new HeatmapView();
    v.setMap({ values: new Float32Array([-2, 0, 1, 3]), mask: null, h: 2, w: 2, signed: true });
    v.draw();
    // 99.5th percentile of |v| = 2.985
    expect(Number(v.el.querySelector(".nbx-cbar-min")!.textContent)).toBeCloseTo(-2.985, 1);
    expect(Number(v.el.querySelector(".nbx-cbar-max")!.textContent)).toBeCloseTo(2.985, 1);
  });

  it("draws with the kernel's tables; auto picks RdBu_r for a signed map", () => {
    const v = new HeatmapView();
    v.setLutSource(kernelLuts());
    v.setMap({ values: new Float32Array([-1, 0, 1, 1]), mask: null, h: 2, w: 2, signed: true });
    v.setOpacity(1);
    expect(v.activeColormap()).toBe("RdBu_r");
    const px = Array.from(v.pixels()!.rgba);
    // -1 -> entry 0 = (255, 0, 0) opaque (diverging: alpha by magnitude = 1)
    expect(px.slice(0, 4)).toEqual([255, 0, 0, 255]);
    // 1 -> entry 255 = (0, 0, 255)
    expect(px.slice(8, 12)).toEqual([0, 0, 255, 255]);
    v.setColormap("inferno");
    expect(Array.from(v.pixels()!.rgba).slice(8, 12)).toEqual([255, 255, 255, 255]);
  });

  it("sign, top-k and clip change what is drawn (browser only)", () => {
    const v = new HeatmapView();
    v.setLutSource(kernelLuts());
    v.setMap({ values: new Float32Array([-4, 1, 2, 3]), mask: null, h: 2, w: 2, signed: true });
    v.setOpacity(1);
    v.setSign("positive");
    expect(v.activeColormap()).toBe("inferno"); // magnitudes: sequential
    expect(v.currentRange()!.vmin).toBe(0);
    let px = v.pixels()!.rgba;
    expect(px[3]).toBe(0); // the negative cell is not drawn
    expect(px[15]).toBe(255);
    v.setSign("absolute");
    v.setTopK(25); // one cell of four: the |-4|
    px = v.pixels()!.rgba;
    expect([px[3], px[7], px[11], px[15]]).toEqual([255, 0, 0, 0]);
    v.setTopK(100);
    v.setClip(50); // |v| = 1, 2, 3, 4: the median 2.5 is the top of the range
    expect(v.currentRange()).toEqual({ vmin: 0, vmax: 2.5 });
  });

  it("shows the uncertainty map instead of the values when asked and present", () => {
    const v = new HeatmapView();
    v.setLutSource(kernelLuts());
    v.setMap({ values: new Float32Array([-1, 1, -1, 1]), mask: null, h: 2, w: 2, signed: true, uncertainty: new Float32Array([0, 1, 2, 4]) });
    v.setOpacity(1);
    expect(v.drawnLayer()).toBe("values");
    v.setShowUncertainty(true);
    expect(v.drawnLayer()).toBe("uncertainty");
    expect(v.activeColormap()).toBe("inferno");
    v.draw();
    expect(v.el.dataset.layer).toBe("uncertainty");
    const px = Array.from(v.pixels()!.rgba);
    expect(px.slice(0, 4)).toEqual([0, 0, 0, 255]);
    expect(px.slice(12, 16)).toEqual([255, 255, 255, 255]);
    v.setMap({ values: new Float32Array([1, 1, 1, 1]), mask: null, h: 2, w: 2, signed: true });
    expect(v.drawnLayer()).toBe("values"); // no uncertainty in this map
  });

  it("counts the painted cells it shows", () => {
    const v = setup();
    v.setPaint(new Uint8Array([1, 0, 1, 1]), 2, 2);
    v.draw();
    expect(v.overlay.dataset.painted).toBe("3");
    expect(v.overlay.style.width).toBe(v.canvas.style.width);
    v.setPaint(null);
    v.drawPaint();
    expect(v.overlay.dataset.painted).toBe("0");
  });
});
