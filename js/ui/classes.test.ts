// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { FakeModel } from "../testing/fake-model";
import { ClassList, sanitizeTopClasses } from "./classes";

const XSS = "<img src=x onerror=alert(1)>";

function setup(topClasses: unknown, target = 0) {
  const model = new FakeModel({ target, top_classes: topClasses });
  const chosen: number[] = [];
  const list = new ClassList({ model, onSelect: (t) => chosen.push(t) });
  list.setClasses(topClasses);
  document.body.replaceChildren(list.el);
  return { model, list, chosen };
}

describe("ClassList", () => {
  it("renders labels as text, never as HTML", () => {
    const { list } = setup([
      { index: 3, label: XSS, prob: 0.7 },
      { index: 1, label: "<b>bold</b>", prob: 0.2 },
    ]);
    expect(list.el.querySelector("img")).toBeNull();
    expect(list.el.querySelector("b")).toBeNull();
    expect(document.querySelectorAll("img").length).toBe(0);
    const buttons = list.buttons();
    expect(buttons.map((b) => b.querySelector(".nbx-class-label")!.textContent)).toEqual([XSS, "<b>bold</b>"]);
    expect(buttons[0].textContent).toContain(XSS);
  });

  it("shows one button per class with data-index, a bar and a percentage", () => {
    const { list } = setup([
      { index: 7, label: "seven", prob: 0.8123 },
      { index: 2, label: "two", prob: 0.1 },
    ]);
    const buttons = list.buttons();
    expect(buttons.map((b) => b.getAttribute("data-index"))).toEqual(["7", "2"]);
    expect(buttons[0].querySelector(".nbx-class-prob")!.textContent).toBe("81.2%");
    expect((buttons[0].querySelector(".nbx-class-fill") as HTMLElement).style.width).toBe("81.2%");
    expect(buttons[0].tagName).toBe("BUTTON");
    expect(buttons[0].getAttribute("type")).toBe("button");
  });

  it("a click sets and saves the target trait; no message is sent", () => {
    const { model, list, chosen } = setup(
      [
        { index: 3, label: "three", prob: 0.6 },
        { index: 5, label: "five", prob: 0.3 },
      ],
      3,
    );
    const [b3, b5] = list.buttons();
    b5.click();
    expect(model.get("target")).toBe(5);
    expect(model.saves).toBe(1);
    b3.click();
    expect(model.get("target")).toBe(3);
    expect(model.saves).toBe(2);
    b3.click(); // already the target: nothing new to save
    expect(model.saves).toBe(2);
    expect(model.sent.filter((s) => (s as { kind?: string }).kind !== "settle")).toEqual([]); // trait saves only (and "settle")
    expect(chosen).toEqual([5, 3, 3]);
  });

  it("a click on the label span inside the button also counts", () => {
    const { model, list } = setup([{ index: 4, label: "four", prob: 1 }]);
    (list.buttons()[0].querySelector(".nbx-class-label") as HTMLElement).click();
    expect(model.get("target")).toBe(4);
  });

  it("highlights the selected target with aria-pressed", () => {
    const { list } = setup([
      { index: 3, label: "three", prob: 0.6 },
      { index: 5, label: "five", prob: 0.3 },
    ]);
    list.setSelected(5);
    expect(list.buttons().map((b) => b.getAttribute("aria-pressed"))).toEqual(["false", "true"]);
    list.buttons()[0].click();
    expect(list.buttons().map((b) => b.getAttribute("aria-pressed"))).toEqual(["true", "false"]);
  });

  it("handles empty and malformed lists", () => {
    const { list } = setup(null);
    expect(list.buttons()).toHaveLength(0);
    expect(list.el.textContent).toContain("No class scores");
    expect(sanitizeTopClasses([{ index: "x" }, 5, null, { index: 2, label: 9 }])).toEqual([
      { index: 2, label: "9", prob: NaN },
    ]);
  });

  it("destroy removes the click listener", () => {
    const { model, list } = setup([{ index: 1, label: "one", prob: 1 }]);
    list.destroy();
    list.buttons()[0].click();
    expect(model.get("target")).toBe(0);
    expect(model.saves).toBe(0);
  });
});
