/**
 * The top-5 list: one `<button class="nbx-class" data-index>` per class with
 * its label (as text, never HTML), a probability bar and a percentage.
 * Clicking a class sets the `target` trait (`model.set` + `save_changes`); the
 * kernel observes it and recomputes. `aria-pressed` marks the selected class.
 */
import { settle } from "../lib/bind";
import type { AnyModel } from "@anywidget/types";
import { formatPercent } from "../lib/format";
import type { TopClass } from "../lib/types";

export interface ClassListOptions {
  model: Pick<AnyModel, "get" | "set" | "save_changes">;
  /** Called after the target was set. */
  onSelect?: (target: number) => void;
  doc?: Document;
}

/** Keep only well-formed entries; labels become strings. */
export function sanitizeTopClasses(value: unknown): TopClass[] {
  if (!Array.isArray(value)) return [];
  const out: TopClass[] = [];
  for (const c of value) {
    if (c === null || typeof c !== "object") continue;
    const { index, label, prob } = c as Record<string, unknown>;
    if (typeof index !== "number" || !Number.isInteger(index)) continue;
    out.push({
      index,
      label: label === undefined || label === null ? String(index) : String(label),
      prob: typeof prob === "number" ? prob : NaN,
    });
  }
  return out;
}

export class ClassList {
  readonly el: HTMLDivElement;
  private readonly list: HTMLDivElement;
  private readonly opts: ClassListOptions;
  private readonly doc: Document;
  private classes: TopClass[] = [];
  private selected: number | null = null;
  private readonly onClick = (ev: Event): void => {
    const t = ev.target as Element | null;
    const btn = t && typeof t.closest === "function" ? t.closest("button.nbx-class") : null;
    if (!btn || !this.list.contains(btn)) return;
    const index = Number(btn.getAttribute("data-index"));
    if (Number.isInteger(index)) this.choose(index);
  };

  constructor(opts: ClassListOptions) {
    this.opts = opts;
    this.doc = opts.doc ?? document;
    this.el = this.doc.createElement("div");
    this.el.className = "nbx-side";
    const title = this.doc.createElement("div");
    title.className = "nbx-side-title";
    title.textContent = "Top classes";
    this.list = this.doc.createElement("div");
    this.list.className = "nbx-classes";
    this.list.setAttribute("role", "group");
    this.list.setAttribute("aria-label", "Top classes: choose the class to explain");
    this.el.append(title, this.list);
    this.list.addEventListener("click", this.onClick);
    this.render();
  }

  /** Replace the list. */
  setClasses(value: unknown): void {
    this.classes = sanitizeTopClasses(value);
    this.render();
  }

  /** Highlight the class whose map is shown (or pending). */
  setSelected(index: number | null | undefined): void {
    this.selected = typeof index === "number" && Number.isFinite(index) ? index : null;
    for (const btn of this.buttons()) {
      btn.setAttribute("aria-pressed", String(Number(btn.getAttribute("data-index")) === this.selected));
    }
  }

  getSelected(): number | null {
    return this.selected;
  }

  buttons(): HTMLButtonElement[] {
    return Array.from(this.list.querySelectorAll<HTMLButtonElement>("button.nbx-class"));
  }

  /** Set the `target` trait to `target` (saved; the kernel recomputes) and select it. */
  choose(target: number): void {
    this.setSelected(target);
    if (this.opts.model.get("target") !== target) {
      this.opts.model.set("target", target);
      this.opts.model.save_changes();
      settle(this.opts.model);
    }
    this.opts.onSelect?.(target);
  }

  destroy(): void {
    this.list.removeEventListener("click", this.onClick);
  }

  private render(): void {
    const d = this.doc;
    this.list.replaceChildren();
    if (this.classes.length === 0) {
      const empty = d.createElement("div");
      empty.className = "nbx-empty";
      empty.textContent = "No class scores.";
      this.list.append(empty);
      return;
    }
    for (const c of this.classes) {
      const btn = d.createElement("button");
      btn.type = "button";
      btn.className = "nbx-class";
      btn.setAttribute("data-index", String(c.index));
      btn.setAttribute("aria-pressed", String(c.index === this.selected));
      btn.title = `${c.label} (class ${c.index})`;

      const label = d.createElement("span");
      label.className = "nbx-class-label";
      label.textContent = c.label;

      const bar = d.createElement("span");
      bar.className = "nbx-class-bar";
      const fill = d.createElement("span");
      fill.className = "nbx-class-fill";
      const p = Number.isFinite(c.prob) ? Math.min(1, Math.max(0, c.prob)) : 0;
      fill.style.width = `${(p * 100).toFixed(1)}%`;
      bar.append(fill);

      const prob = d.createElement("span");
      prob.className = "nbx-class-prob";
      prob.textContent = formatPercent(c.prob);

      btn.append(label, bar, prob);
      this.list.append(btn);
    }
  }
}
