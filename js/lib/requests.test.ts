import { describe, expect, it } from "vitest";
import { formatPercent, formatValue } from "./format";
import { RequestTracker, trackerFor } from "./requests";

describe("RequestTracker", () => {
  it("issues increasing ids and accepts only the newest replies", () => {
    const t = new RequestTracker();
    expect(t.accepts(0)).toBe(true); // kernel-initiated before any request
    expect(t.next()).toBe(1);
    expect(t.next()).toBe(2);
    expect(t.accepts(1)).toBe(false);
    expect(t.accepts(2)).toBe(true);
    expect(t.accepts(3)).toBe(true);
    t.observe(3);
    expect(t.accepts(2)).toBe(false);
    expect(t.next()).toBe(4);
    expect(t.accepts("2" as unknown)).toBe(false);
  });

  it("is seeded so ids continue after a reload, and shared per model", () => {
    expect(new RequestTracker(41).next()).toBe(42);
    const model = {};
    const a = trackerFor(model, 5);
    expect(trackerFor(model)).toBe(a);
    expect(a.next()).toBe(6);
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
