import { describe, expect, it } from "vitest";
import { formatPercent, formatValue } from "./format";
import { LatestIds } from "./requests";

describe("LatestIds", () => {
  it("accepts ids >= the newest seen, per kind", () => {
    const t = new LatestIds();
    expect(t.accepts("attribution", 0)).toBe(true);
    expect(t.take("attribution", 5)).toBe(true);
    expect(t.accepts("attribution", 5)).toBe(true); // partial and final of one job
    expect(t.accepts("attribution", 4)).toBe(false);
    expect(t.take("attribution", 4)).toBe(false);
    expect(t.newestOf("attribution")).toBe(5);
    // another kind has its own newest id
    expect(t.accepts("path", 1)).toBe(true);
    t.observe("path", 9);
    expect(t.accepts("path", 8)).toBe(false);
    expect(t.accepts("attribution", 6)).toBe(true);
  });

  it("refuses ids that are not finite numbers", () => {
    const t = new LatestIds();
    expect(t.accepts("attribution", "2")).toBe(false);
    expect(t.accepts("attribution", undefined)).toBe(false);
    expect(t.accepts("attribution", NaN)).toBe(false);
  });
});

describe("format", () => {
  it("formats values and percentages", () => {
    expect(formatValue(0)).toBe("0");
    expect(formatValue(0.123456)).toBe("0.123");
    expect(formatValue(-1234.5)).toBe("-1230");
    expect(formatValue(2.5e-7)).toBe("2.50e-7");
    expect(formatPercent(0.8123)).toBe("81.2%");
    expect(formatPercent(0.0001)).toBe("<0.1%");
    expect(formatPercent(NaN)).toBe("–");
  });
});
