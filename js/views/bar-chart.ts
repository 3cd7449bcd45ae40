/**
 * The signed horizontal bar chart of the table and sequence views (protocol16), as SVG:
 *
 *   label column (`name = value`) | bars around 0 (or waterfall steps), error bars | baseline column
 *
 * Hooks: `rect.nbx-bar[data-feature][data-index][data-value]` (the folded bar:
 * `rect.nbx-bar.nbx-others[data-others][data-value]`), `path.nbx-errbar[data-feature][data-low][data-high]`,
 * `rect.nbx-baseline-handle[data-feature][data-value][data-min][data-max]` (focusable, role
 * slider) on `line.nbx-handle-axis[data-feature][data-min][data-max]` (its ends are min and
 * max), `text.nbx-bar-label[data-feature]`. The geometry is `barLayout` (pure).
 */
import { extent, linearScale, niceTicks, pad, type Step } from "../lib/bars";
import { formatValue } from "../lib/format";
import { clipText, svgEl, svgTitle } from "./svg";

export interface HandleSpec {
  /** The baseline value the handle sits at. */
  value: number;
  /** The axis: the feature's background min..max. */
  min: number;
  max: number;
  /** The explained row's value of the feature (a tick on the axis), when known. */
  x: number | null;
  /** A custom baseline (in the `baseline` dict). */
  custom: boolean;
}

export interface ChartRow {
  /** The feature's name; null for the folded "k others" bar. */
  feature: string | null;
  index?: number;
  /** The text left of the bar (in full: the tooltip). */
  label: string;
  /** The text shown when `label` is too long (default: `label` cut to LABEL_CHARS characters). */
  shortLabel?: string;
  value: number | null;
  /** Waterfall: the bar goes from start to end. */
  step?: Step;
  low?: number | null;
  high?: number | null;
  /** Folded bar: how many features. */
  others?: number;
  handle?: HandleSpec | null;
}

export interface ChartOptions {
  colors: { positive: string; negative: string };
  /** Reserve the right-hand column for baseline handles. */
  handles: boolean;
  /** Waterfall markers: vertical lines at the base value and the prediction. */
  base?: number | null;
  prediction?: number | null;
  /** Shown when there are no rows. */
  emptyText?: string;
  /** Header over the bars. */
  title?: string;
}

export const CHART_WIDTH = 680;
export const LABEL_W = 200;
export const HANDLE_W = 150;
export const ROW_H = 20;
export const TOP = 18;
export const AXIS_H = 30;
/** Characters of a label that fit the label column. */
export const LABEL_CHARS = 28;

export interface BarLayout {
  width: number;
  height: number;
  /** The bars' pixel range and value domain. */
  x0: number;
  x1: number;
  domain: [number, number];
  /** value -> x (px) */
  x: (v: number) => number;
  /** Top of row i. */
  rowY: (i: number) => number;
  /** The baseline handles' axis (px), when there is a handle column. */
  hx0: number;
  hx1: number;
}

/** The ends of a row's bar: 0..value, or the waterfall step. */
function ends(r: ChartRow): [number, number] {
  if (r.step) return [r.step.start, r.step.end];
  return [0, r.value ?? 0];
}

/** Where the error bar of a row lies: the interval, shifted to the step's start in a waterfall. */
export function errRange(r: ChartRow): [number, number] | null {
  if (r.low === null || r.low === undefined || r.high === null || r.high === undefined) return null;
  const off = r.step ? r.step.start : 0;
  return [off + Math.min(r.low, r.high), off + Math.max(r.low, r.high)];
}

/** The chart's geometry for these rows (pure). */
export function barLayout(rows: readonly ChartRow[], opts: Pick<ChartOptions, "handles" | "base" | "prediction">): BarLayout {
  const width = CHART_WIDTH;
  const x0 = LABEL_W + 4;
  const x1 = opts.handles ? width - HANDLE_W - 10 : width - 10;
  const vals: (number | null | undefined)[] = [opts.base, opts.prediction];
  for (const r of rows) {
    vals.push(...ends(r));
    const e = errRange(r);
    if (e) vals.push(...e);
  }
  const domain = pad(extent(vals, true), 0.14);
  return {
    width,
    height: TOP + Math.max(1, rows.length) * ROW_H + AXIS_H,
    x0,
    x1,
    domain,
    x: linearScale(domain, [x0, x1]),
    rowY: (i) => TOP + i * ROW_H,
    hx0: width - HANDLE_W + 14,
    hx1: width - 10,
  };
}

/** The handle's x on its axis. */
export function handleX(h: Pick<HandleSpec, "value" | "min" | "max">, layout: Pick<BarLayout, "hx0" | "hx1">): number {
  if (!(h.max > h.min)) return (layout.hx0 + layout.hx1) / 2;
  const t = Math.min(1, Math.max(0, (h.value - h.min) / (h.max - h.min)));
  return layout.hx0 + t * (layout.hx1 - layout.hx0);
}

export const HANDLE_SIZE = { w: 9, h: 14 };

/** Put a handle element at a value (used while it is dragged, too). */
export function placeHandle(el: Element, h: HandleSpec, layout: Pick<BarLayout, "hx0" | "hx1">, y: number): void {
  const cx = handleX(h, layout);
  el.setAttribute("x", String(cx - HANDLE_SIZE.w / 2));
  el.setAttribute("y", String(y + (ROW_H - HANDLE_SIZE.h) / 2));
  el.setAttribute("data-value", String(h.value));
  el.setAttribute("aria-valuenow", String(h.value));
  el.setAttribute("aria-valuetext", formatValue(h.value));
}

/** Redraw `svg` with the rows; returns the geometry (for pointer math). */
export function drawBarChart(svg: SVGSVGElement, rows: readonly ChartRow[], opts: ChartOptions): BarLayout {
  const doc = svg.ownerDocument;
  const L = barLayout(rows, opts);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${L.width} ${L.height}`);
  svg.setAttribute("width", String(L.width));
  svg.setAttribute("height", String(L.height));
  svg.setAttribute("data-rows", String(rows.length));
  const add = (n: Element): void => {
    svg.append(n);
  };
  if (opts.title) add(svgEl(doc, "text", { class: "nbx-chart-title", x: L.x0, y: 12 }, opts.title));
  if (opts.handles) add(svgEl(doc, "text", { class: "nbx-chart-title", x: L.hx0 - 6, y: 12 }, "baseline (drag)"));
  if (rows.length === 0) {
    add(svgEl(doc, "text", { class: "nbx-chart-empty", x: L.x0, y: TOP + 14 }, opts.emptyText ?? "No attributions yet."));
    return L;
  }
  const bottom = L.rowY(rows.length);
  // axis, ticks, zero line
  add(svgEl(doc, "line", { class: "nbx-axis", x1: L.x0, y1: bottom + 2, x2: L.x1, y2: bottom + 2 }));
  for (const t of niceTicks(L.domain[0], L.domain[1], 5)) {
    const x = L.x(t);
    add(svgEl(doc, "line", { class: "nbx-tick", x1: x, y1: bottom + 2, x2: x, y2: bottom + 5 }));
    add(svgEl(doc, "text", { class: "nbx-tick-label", x, y: bottom + 15, "text-anchor": "middle" }, formatValue(t)));
  }
  if (!rows.some((r) => r.step)) add(svgEl(doc, "line", { class: "nbx-zero", x1: L.x(0), y1: TOP - 2, x2: L.x(0), y2: bottom + 2 }));
  // waterfall: the base value (labelled under the axis, where the steps start) and the prediction (over the rows, where they end)
  const marker = (cls: string, v: number | null | undefined, text: string, y: number): void => {
    if (typeof v !== "number" || !Number.isFinite(v)) return;
    const x = L.x(v);
    add(svgEl(doc, "line", { class: cls, x1: x, y1: TOP - 2, x2: x, y2: bottom + 2, "data-value": v }));
    add(svgEl(doc, "text", { class: `nbx-marker-label ${cls}-label`, x, y, "text-anchor": "middle" }, `${text} ${formatValue(v)}`));
  };
  marker("nbx-base-line", opts.base, "base", bottom + 27);
  marker("nbx-pred-line", opts.prediction, "f(x)", TOP - 5);

  rows.forEach((r, i) => {
    const y = L.rowY(i);
    const cy = y + ROW_H / 2;
    // label
    const label = svgEl(doc, "text", { class: "nbx-bar-label", x: LABEL_W - 6, y: cy + 4, "text-anchor": "end" }, r.shortLabel ?? clipText(r.label, LABEL_CHARS));
    if (r.feature !== null) label.setAttribute("data-feature", r.feature);
    label.append(svgTitle(doc, r.label));
    add(label);
    // bar
    const [a, b] = ends(r);
    const xa = L.x(Math.min(a, b));
    const xb = L.x(Math.max(a, b));
    const v = r.value;
    const sign = v === null ? "nan" : v >= 0 ? "pos" : "neg";
    const bar = svgEl(doc, "rect", {
      class: `nbx-bar nbx-${sign}${r.feature === null ? " nbx-others" : ""}`,
      x: xa,
      y: y + 3,
      width: Math.max(v === null ? 0 : 1, xb - xa),
      height: ROW_H - 6,
      fill: v === null ? "none" : v >= 0 ? opts.colors.positive : opts.colors.negative,
      "data-value": v === null ? "" : String(v),
    });
    if (r.feature !== null) bar.setAttribute("data-feature", r.feature);
    if (r.index !== undefined) bar.setAttribute("data-index", String(r.index));
    if (r.others !== undefined) bar.setAttribute("data-others", String(r.others));
    if (r.step) {
      bar.setAttribute("data-start", String(r.step.start));
      bar.setAttribute("data-end", String(r.step.end));
    }
    bar.append(svgTitle(doc, `${r.label}: ${v === null ? "not finite" : formatValue(v)}`));
    add(bar);
    // the value at the bar's end (beyond its error bar)
    const right = v === null || v >= 0;
    const e = errRange(r);
    const tx = right ? Math.max(xb, e ? L.x(e[1]) : xb) + 3 : Math.min(xa, e ? L.x(e[0]) : xa) - 3;
    add(
      svgEl(
        doc,
        "text",
        { class: "nbx-bar-value", x: tx, y: cy + 4, "text-anchor": right ? "start" : "end" },
        v === null ? "nan" : `${v > 0 ? "+" : ""}${formatValue(v)}`,
      ),
    );
    // waterfall connector to the bar below (which ends where this one starts)
    if (r.step && i < rows.length - 1) {
      const cx = L.x(r.step.start);
      add(svgEl(doc, "line", { class: "nbx-connector", x1: cx, y1: y + ROW_H - 3, x2: cx, y2: y + ROW_H + 3 }));
    }
    // error bar
    if (e && r.feature !== null) {
      const [lo, hi] = [L.x(e[0]), L.x(e[1])];
      const err = svgEl(doc, "path", {
        class: "nbx-errbar",
        d: `M${lo},${cy}H${hi}M${lo},${cy - 4}V${cy + 4}M${hi},${cy - 4}V${cy + 4}`,
        "data-feature": r.feature,
        "data-low": String(r.low),
        "data-high": String(r.high),
      });
      err.append(svgTitle(doc, `95% interval ${formatValue(r.low as number)} … ${formatValue(r.high as number)}`));
      add(err);
    }
    // baseline handle
    const h = r.handle;
    if (opts.handles && h && r.feature !== null) {
      add(svgEl(doc, "line", { class: "nbx-handle-axis", x1: L.hx0, y1: cy, x2: L.hx1, y2: cy, "data-feature": r.feature, "data-min": String(h.min), "data-max": String(h.max) }));
      if (h.x !== null && Number.isFinite(h.x)) {
        const xx = handleX({ value: h.x, min: h.min, max: h.max }, L);
        add(svgEl(doc, "line", { class: "nbx-handle-x", x1: xx, y1: cy - 5, x2: xx, y2: cy + 5, "data-feature": r.feature, "data-value": String(h.x) }));
      }
      const handle = svgEl(doc, "rect", {
        class: `nbx-baseline-handle${h.custom ? " nbx-custom" : ""}`,
        width: HANDLE_SIZE.w,
        height: HANDLE_SIZE.h,
        rx: 2,
        tabindex: 0,
        role: "slider",
        "aria-label": `baseline of ${r.feature}`,
        "aria-valuemin": String(h.min),
        "aria-valuemax": String(h.max),
        "data-feature": r.feature,
        "data-min": String(h.min),
        "data-max": String(h.max),
        "data-row-y": String(y),
        "data-custom": String(h.custom),
      });
      placeHandle(handle, h, L, y);
      handle.append(svgTitle(doc, `baseline of ${r.feature}: drag, or focus and use the arrow keys (range ${formatValue(h.min)} … ${formatValue(h.max)})`));
      add(handle);
    }
  });
  return L;
}
