// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { captionLines, svgFile } from "./export";

describe("export", () => {
  it("caption lines: the caption, then each class with its probability, as text", () => {
    expect(captionLines("saliency · 7", [{ label: "<b>seven</b>", prob: 0.5 }, { label: "one", prob: null }])).toEqual([
      "saliency · 7",
      "<b>seven</b>  50.0%",
      "one",
    ]);
    expect(captionLines("", [])).toEqual([]);
  });

  it("an SVG chart becomes a standalone file with its namespace; its text stays text", () => {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg") as SVGSVGElement;
    const t = document.createElementNS("http://www.w3.org/2000/svg", "text");
    t.textContent = "<script>window.__p=1</script>";
    svg.append(t);
    const file = svgFile(svg);
    expect(file.startsWith('<?xml version="1.0"')).toBe(true);
    expect(file).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(file).toContain("&lt;script&gt;");
    expect(file).not.toContain("<script>");
  });
});
