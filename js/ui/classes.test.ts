// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { RequestTracker } from "../lib/requests";
import { FakeModel } from "../testing/fake-model";
import { ClassList, sanitizeTopClasses } from "./classes";

const XSS = "<img src=x onerror=alert(1)>";

function setup(topClasses: unknown, method = "saliency") {
  const model = new FakeModel({ method, top_classes: topClasses });
  const tracker = new RequestTracker();
  const requests: unknown[] = [];
  const list = new ClassList({ model, tracker, onRequest: (r) => requests.push(r) });
  list.setClasses(topClasses);
  document.body.replaceChildren(list.el);
  return { model, tracker, list, requests };
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

  it("a click sends an attribute request for that class with increasing ids", () => {
    const { model, list, requests } = setup(
      [
        { index: 3, label: "three", prob: 0.6 },
        { index: 5, label: "five", prob: 0.3 },
      ],
      "integrated_gradients",
    );
    const [b3, b5] = list.buttons();
    b5.click();
    b3.click();
    expect(model.sent).toEqual([
      { kind: "attribute", id: 1, target: 5, method: "integrated_gradients" },
      { kind: "attribute", id: 2, target: 3, method: "integrated_gradients" },
    ]);
    expect(requests).toEqual(model.sent);
  });

  it("a click on the label span inside the button also counts", () => {
    const { model, list } = setup([{ index: 4, label: "four", prob: 1 }]);
    (list.buttons()[0].querySelector(".nbx-class-label") as HTMLElement).click();
    expect(model.sent).toHaveLength(1);
    expect((model.sent[0] as { target: number }).target).toBe(4);
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
    expect(model.sent).toHaveLength(0);
  });
});
