// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { imageToRGBA } from "../lib/draw";
import { HeatmapView } from "./heatmap";

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
    expect(v.activeColormap()).toBe("rdbu");
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
});
