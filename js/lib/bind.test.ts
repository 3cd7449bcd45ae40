import { describe, expect, it } from "vitest";
import { FakeModel } from "../testing/fake-model";
import { bindTrait, parseChoice, parseRange, parseToggle, type ValueSource } from "./bind";

const last = <T>(a: readonly T[]): T | undefined => a[a.length - 1];

/** A range binding on `opacity` that records every value it is given. */
function bindOpacity(model: FakeModel) {
  const seen: Array<[number, ValueSource]> = [];
  const binding = bindTrait<number>(model, "opacity", {
    parse: (raw, prev) => parseRange(raw, prev, 0, 1),
    fallback: 0.5,
    onValue: (v, source) => seen.push([v, source]),
  });
  return { binding, seen };
}

describe("bindTrait", () => {
  it("starts from the model's value", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding, seen } = bindOpacity(model);
    expect(binding.get()).toBe(0.3);
    expect(seen).toEqual([[0.3, "init"]]);
    expect(model.saves).toBe(0);
  });

  it("starts from the fallback when the model holds nothing valid", () => {
    const { binding, seen } = bindOpacity(new FakeModel({ opacity: "lots" }));
    expect(binding.get()).toBe(0.5);
    expect(seen).toEqual([[0.5, "init"]]);
  });

  it("user input sets the trait and saves it", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding, seen } = bindOpacity(model);
    binding.write("0.8");
    expect(model.get("opacity")).toBe(0.8);
    expect(model.saves).toBe(1);
    expect(binding.get()).toBe(0.8);
    // applied once as user input; the model's echo of our own set is not reported as a kernel change
    expect(seen).toEqual([
      [0.3, "init"],
      [0.8, "user"],
    ]);
  });

  it("user input is parsed before it is saved", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding } = bindOpacity(model);
    binding.write("7");
    expect(model.get("opacity")).toBe(1);
    binding.write("not a number"); // keeps the last valid value: nothing new to save
    expect(model.get("opacity")).toBe(1);
    expect(model.saves).toBe(1);
  });

  it("input that does not change the value saves nothing", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding, seen } = bindOpacity(model);
    binding.write("0.3");
    expect(model.saves).toBe(0);
    expect(seen).toHaveLength(1);
  });

  it("follows the kernel without writing back (no echo)", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding, seen } = bindOpacity(model);
    model.set("opacity", 0.9); // the kernel set the trait
    expect(binding.get()).toBe(0.9);
    expect(last(seen)).toEqual([0.9, "kernel"]);
    expect(model.saves).toBe(0);
    expect(model.get("opacity")).toBe(0.9);
  });

  it("an invalid kernel value keeps the last valid one", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const { binding, seen } = bindOpacity(model);
    model.set("opacity", null);
    expect(binding.get()).toBe(0.3);
    expect(seen).toHaveLength(1);
    model.set("opacity", 4);
    expect(last(seen)).toEqual([1, "kernel"]);
  });

  it("dispose removes its listener, and only its own", () => {
    const model = new FakeModel({ opacity: 0.3 });
    let other = 0;
    model.on("change:opacity", () => (other += 1)); // e.g. another view of the same model
    const { binding, seen } = bindOpacity(model);
    expect(model.listenerCount()).toBe(2);
    binding.dispose();
    binding.dispose();
    expect(model.listenerCount()).toBe(1);
    model.set("opacity", 0.7);
    expect(seen).toHaveLength(1);
    expect(binding.get()).toBe(0.3);
    expect(other).toBe(1);
    binding.write("0.1"); // a late DOM event after cleanup does nothing
    expect(model.get("opacity")).toBe(0.7);
    expect(model.saves).toBe(0);
  });

  it("two bindings of one model (two views) follow each other's input", () => {
    const model = new FakeModel({ opacity: 0.3 });
    const a = bindOpacity(model);
    const b = bindOpacity(model);
    a.binding.write(0.6);
    expect(b.binding.get()).toBe(0.6);
    expect(last(b.seen)).toEqual([0.6, "kernel"]);
    expect(model.saves).toBe(1);
  });
});

describe("refresh", () => {
  it("re-reads the model against new choices and reports a change as the kernel's", () => {
    let choices = ["a"];
    const model = new FakeModel({ rule: "b" });
    const seen: Array<[string, ValueSource]> = [];
    const binding = bindTrait<string>(model, "rule", {
      parse: (raw) => parseChoice(raw, choices, "a"),
      fallback: "a",
      onValue: (v, s) => seen.push([v, s]),
    });
    expect(binding.get()).toBe("a");
    binding.refresh(); // nothing new
    expect(seen).toEqual([["a", "init"]]);
    choices = ["a", "b"];
    binding.refresh();
    expect(binding.get()).toBe("b");
    expect(seen).toEqual([
      ["a", "init"],
      ["b", "kernel"],
    ]);
    expect(model.saves).toBe(0);
    binding.dispose();
    choices = ["a"];
    binding.refresh();
    expect(binding.get()).toBe("b");
  });
});

describe("parsers", () => {
  it("parseRange clamps finite numbers and keeps the previous value otherwise", () => {
    expect(parseRange(0.25, 0.5, 0, 1)).toBe(0.25);
    expect(parseRange("0.75", 0.5, 0, 1)).toBe(0.75);
    expect(parseRange(-3, 0.5, 0, 1)).toBe(0);
    expect(parseRange(3, 0.5, 0, 1)).toBe(1);
    for (const bad of [NaN, Infinity, "", " ", "x", null, undefined, {}, true]) {
      expect(parseRange(bad, 0.5, 0, 1)).toBe(0.5);
    }
  });

  it("parseChoice accepts listed values only", () => {
    const names = ["auto", "inferno"] as const;
    expect(parseChoice("inferno", names, "auto")).toBe("inferno");
    expect(parseChoice("jet", names, "auto")).toBe("auto");
    expect(parseChoice(undefined, names, "auto")).toBe("auto");
  });

  it("parseToggle accepts booleans only", () => {
    expect(parseToggle(true, false)).toBe(true);
    expect(parseToggle(false, true)).toBe(false);
    expect(parseToggle("false", true)).toBe(true);
    expect(parseToggle(1, false)).toBe(false);
  });
});
