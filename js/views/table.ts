/**
 * view = "table" (protocol16): the attributions of one tabular row as signed bars, sorted by
 * |value|, each labelled `name = value` (the row's value of the feature); the top `top_k`
 * bars and the rest folded into one "k others" bar (their sum); Shapley's 95% intervals as
 * error bars (they narrow as partial `bars` messages arrive); a waterfall from `base_value`
 * to the prediction with the sum check; a baseline handle per feature (drag it, or focus it
 * and use the arrow keys: `baseline = {...old, [name]: v}` + settle) and a chip per custom
 * baseline (× removes it); the row picker, budget, estimator, baseline kind; and the beeswarm
 * summary over every row (`summary` message) when the `summary` box is ticked.
 *
 * Root counters: `data-bars-received`, `data-summary-received`, `data-stale-ignored`;
 * `data-row`, `data-bars-final`, `data-method`, `data-target` describe the bars on screen.
 */
import { download, exportButton, svgFile } from "../lib/export";
import {
  customBaseline,
  baselineEntries,
  finiteOrNull,
  foldTopK,
  extent,
  numberList,
  numberMatrix,
  nudge,
  othersLabel,
  signColors,
  sortByMagnitude,
  sumCheck,
  tidy,
  valueAtX,
  waterfallSteps,
  withBaseline,
  type BarFeature,
} from "../lib/bars";
import { settle } from "../lib/bind";
import { cssGradientOf } from "../lib/colormap";
import { formatValue } from "../lib/format";
import { SHAPLEY } from "../lib/methods";
import { controlKit } from "../ui/bound-controls";
import { THROTTLE_MS } from "../ui/compute-controls";
import { drawBarChart, LABEL_CHARS, placeHandle, type BarLayout, type ChartRow, type HandleSpec } from "./bar-chart";
import { drawBeeswarm, type SummaryData } from "./beeswarm";
import { asRecord, mountIndexSelect, namesFor, stringList, ViewShell, type ViewProps } from "./shell";
import { clipText, SVG_NS } from "./svg";

const { range, select, toggle } = controlKit<unknown>();
const int = (v: number): string => String(Math.round(v));

export const ESTIMATORS = ["auto", "exact", "kernel", "permutation"] as const;

/** The table view's compute controls (a change recomputes: settle). */
export const TABLE_COMPUTE_CONTROLS = [
  select({
    trait: "estimator",
    label: "Estimator",
    ariaLabel: "Shapley estimator",
    options: ESTIMATORS.map((e) => ({ value: e, label: e })),
    default: "auto",
    visible: (ctx) => ctx.method === SHAPLEY || ctx.methodOptions.includes("estimator"),
  }),
  range({
    trait: "budget",
    label: "Budget",
    ariaLabel: "model evaluations",
    min: 16,
    max: 8192,
    step: 1,
    integer: true,
    scale: "log",
    auto: true,
    default: 0,
    format: int,
    throttleMs: THROTTLE_MS,
    visible: (ctx) => ctx.methodOptions.includes("budget") || ctx.method === SHAPLEY || ctx.method === "lime",
  }),
  select({
    trait: "baseline_kind",
    label: "Baseline",
    ariaLabel: "baseline of the features without a custom one",
    options: [
      { value: "mean", label: "mean" },
      { value: "median", label: "median" },
    ],
    default: "mean",
  }),
  toggle({ trait: "summary", label: "Summary", ariaLabel: "beeswarm summary over all rows", default: false }),
] as const;

/** Display-only controls (redrawn here, no kernel round trip). */
export const TABLE_DISPLAY_CONTROLS = [
  range({
    trait: "top_k",
    label: "Top",
    ariaLabel: "features shown (the rest folded into one bar)",
    min: 1,
    max: 1000,
    step: 1,
    integer: true,
    default: 10,
    format: int,
  }),
  toggle({ trait: "waterfall", label: "Waterfall", ariaLabel: "waterfall from the base value to the prediction", default: false }),
] as const;

/** A `bars` message, checked. */
export interface BarsData {
  id: number;
  row: number | null;
  method: unknown;
  target: unknown;
  final: boolean;
  values: (number | null)[];
  base: number | null;
  prediction: number | null;
  low: (number | null)[] | null;
  high: (number | null)[] | null;
  baseline: (number | null)[] | null;
  progress: [number, number] | null;
}

export function parseBars(msg: Record<string, unknown>): BarsData {
  const values = numberList(msg.values);
  if (!values) throw new Error("nbexplain: a bars message without values");
  const f = values.length;
  const p = Array.isArray(msg.progress) ? msg.progress.map(Number) : null;
  return {
    id: Number(msg.id),
    row: typeof msg.row === "number" && Number.isInteger(msg.row) ? msg.row : null,
    method: msg.method,
    target: msg.target,
    final: msg.final !== false,
    values,
    base: finiteOrNull(msg.base_value),
    prediction: finiteOrNull(msg.prediction),
    low: numberList(msg.ci_low, f),
    high: numberList(msg.ci_high, f),
    baseline: numberList(msg.baseline, f),
    progress: p && p.length === 2 && p.every(Number.isFinite) ? [p[0], p[1]] : null,
  };
}

/** The row picker's label. */
export const rowLabel = (i: number): string => `row ${i}`;

/** A feature's value: integers in full, others to 3 digits; "nan" when not finite. */
export function formatFeature(x: number | null): string {
  return x === null || !Number.isFinite(x) ? "nan" : Number.isInteger(x) && Math.abs(x) < 1e9 ? String(x) : formatValue(x);
}

/** `name = value` (the row's value of the feature). */
export function featureLabel(name: string, x: number | null | undefined): string {
  return x === undefined ? name : `${name} = ${formatFeature(x)}`;
}

interface Drag {
  name: string;
  min: number;
  max: number;
  start: number;
  value: number;
  moved: boolean;
  pointerId: number;
}

export function renderTable(props: ViewProps): () => void {
  const shell = new ViewShell(props, { view: "table", jobKind: "bars", redraw: () => redraw() });
  const { m, doc, root } = shell;
  let bars: BarsData | null = null;
  let summary: SummaryData | null = null;
  let layout: BarLayout | null = null;
  let drag: Drag | null = null;

  // ---- controls ------------------------------------------------------------------
  const rowPicker = mountIndexSelect(shell, {
    trait: "row",
    label: "Row",
    className: "nbx-row",
    ariaLabel: "row explained",
    count: () => (Array.isArray(m.get("rows")) ? (m.get("rows") as unknown[]).length : 0),
    labelOf: rowLabel,
    onSettle: () => settle(m),
    afterChange: () => redraw(),
  });
  shell.controls.append(rowPicker.el);
  shell.addBar(TABLE_COMPUTE_CONTROLS as never, true, () => redraw());
  const display = shell.addBar(TABLE_DISPLAY_CONTROLS as never, false, () => redraw());
  const topK = display.get("top_k")!.input as HTMLInputElement;

  // ---- DOM --------------------------------------------------------------------------
  const chartWrap = doc.createElement("div");
  chartWrap.className = "nbx-chart";
  const svg = doc.createElementNS(SVG_NS, "svg") as SVGSVGElement;
  svg.setAttribute("class", "nbx-bars");
  svg.setAttribute("role", "group");
  svg.setAttribute("aria-label", "feature attributions");
  chartWrap.append(svg);
  const notes = doc.createElement("div");
  notes.className = "nbx-table-notes";
  const check = doc.createElement("div");
  check.className = "nbx-sum-check";
  const warn = doc.createElement("div");
  warn.className = "nbx-sum-warning";
  notes.append(check, warn);
  const chips = doc.createElement("div");
  chips.className = "nbx-chips";
  const summaryBox = doc.createElement("div");
  summaryBox.className = "nbx-summary-view";
  const summaryNote = doc.createElement("div");
  summaryNote.className = "nbx-summary-note";
  const swarm = doc.createElementNS(SVG_NS, "svg") as SVGSVGElement;
  swarm.setAttribute("class", "nbx-beeswarm");
  swarm.setAttribute("role", "img");
  swarm.setAttribute("aria-label", "attributions of every row, per feature");
  const legend = doc.createElement("div");
  legend.className = "nbx-beeswarm-legend";
  const lo = doc.createElement("span");
  lo.textContent = "feature value: low";
  const grad = doc.createElement("span");
  grad.className = "nbx-legend-gradient";
  const hi = doc.createElement("span");
  hi.textContent = "high";
  legend.append(lo, grad, hi);
  summaryBox.append(summaryNote, swarm, legend);
  const exportRow = doc.createElement("div");
  exportRow.className = "nbx-export-row";
  exportRow.append(
    exportButton(doc, "nbx-export-svg", "Save bars SVG", () =>
      download(doc, new Blob([svgFile(svg)], { type: "image/svg+xml" }), "nbexplain-bars.svg"),
    ),
  );
  shell.body.append(chartWrap, notes, chips, summaryBox, exportRow);

  // ---- state from the traits ------------------------------------------------------
  const featureCount = (): number => (bars ? bars.values.length : stringList(m.get("feature_names")).length);
  const names = (): string[] => namesFor(m.get("feature_names"), featureCount());
  const shownRow = (): number => {
    const r = bars?.row ?? m.get("row");
    return typeof r === "number" && Number.isInteger(r) ? r : 0;
  };
  const rowValues = (): (number | null)[] | null => {
    const rows = m.get("rows");
    const r = shownRow();
    return Array.isArray(rows) && Array.isArray(rows[r]) ? (rows[r] as unknown[]).map(finiteOrNull) : null;
  };
  const stats = (): Record<string, unknown> => asRecord(m.get("background_stats"));
  const statOf = (key: string, i: number): number | null => {
    const s = stats()[key];
    return Array.isArray(s) ? finiteOrNull(s[i]) : null;
  };

  /** The handle of feature i: the dragged value, else the custom one, else the background's mean/median, else the baseline row used. */
  function handleOf(i: number, name: string, x: number | null): HandleSpec | null {
    const custom = customBaseline(m.get("baseline"), name);
    const kind = m.get("baseline_kind") === "median" ? "median" : "mean";
    let value: number | null = drag && drag.name === name ? drag.value : custom;
    value ??= statOf(kind, i) ?? bars?.baseline?.[i] ?? null;
    if (value === null) return null;
    let min = statOf("min", i);
    let max = statOf("max", i);
    if (min === null || max === null || !(max >= min)) {
      const rows = numberMatrix(m.get("rows"), featureCount());
      [min, max] = extent(
        rows.map((r) => r[i]),
        false,
      );
    }
    min = Math.min(min, value);
    max = Math.max(max, value);
    return { value, min, max, x, custom: custom !== null };
  }

  function chartRows(): { rows: ChartRow[]; base: number | null; prediction: number | null } {
    if (!bars) return { rows: [], base: null, prediction: null };
    const nm = names();
    const xs = rowValues();
    const feats: BarFeature[] = bars.values.map((value, index) => ({
      index,
      name: nm[index],
      value,
      low: bars!.low?.[index] ?? null,
      high: bars!.high?.[index] ?? null,
    }));
    const k = Number(m.get("top_k"));
    const { shown, others } = foldTopK(sortByMagnitude(feats), Number.isFinite(k) && k > 0 ? k : 10);
    const rows: ChartRow[] = shown.map((f) => {
      const x = xs ? (xs[f.index] ?? null) : undefined;
      return {
        feature: f.name,
        index: f.index,
        label: featureLabel(f.name, x),
        shortLabel: featureLabel(clipText(f.name, LABEL_CHARS - 8), x),
        value: f.value,
        low: f.low,
        high: f.high,
        handle: handleOf(f.index, f.name, x ?? null),
      };
    });
    if (others) rows.push({ feature: null, label: othersLabel(others.count), value: others.sum, others: others.count });
    const waterfall = m.get("waterfall") === true;
    if (!waterfall) return { rows, base: null, prediction: null };
    const steps = waterfallSteps(
      rows.map((r) => r.value),
      bars.base ?? 0,
    );
    rows.forEach((r, i) => (r.step = steps[i]));
    return { rows, base: bars.base ?? 0, prediction: bars.prediction };
  }

  // ---- drawing ---------------------------------------------------------------------
  function drawChart(): void {
    const active = doc.activeElement;
    const focused = active && svg.contains(active) ? active.getAttribute("data-feature") : null;
    const lut = shell.divergingLut().lut;
    const { rows, base, prediction } = chartRows();
    layout = drawBarChart(svg, rows, {
      colors: signColors(lut),
      handles: true,
      base,
      prediction,
      emptyText: m.get("status") === "computing" ? "Computing…" : "No attributions yet.",
    });
    svg.setAttribute("data-waterfall", String(m.get("waterfall") === true));
    if (focused !== null) {
      const h = handleEl(focused);
      if (h && typeof (h as unknown as HTMLElement).focus === "function") (h as unknown as HTMLElement).focus();
    }
  }

  function drawCheck(): void {
    const waterfall = m.get("waterfall") === true;
    check.replaceChildren();
    warn.textContent = "";
    check.classList.toggle("nbx-hidden", !waterfall || !bars);
    warn.classList.add("nbx-hidden");
    if (!waterfall || !bars) return;
    if (bars.base === null || bars.prediction === null) {
      check.textContent = "No base value or prediction: the waterfall starts at 0; nothing to check.";
      check.removeAttribute("data-ok");
      return;
    }
    const c = sumCheck(bars.values, bars.base, bars.prediction);
    check.setAttribute("data-sum", String(c.sum));
    check.setAttribute("data-expected", String(c.expected));
    check.setAttribute("data-ok", String(c.ok));
    check.textContent = `sum = ${formatValue(c.sum)} · prediction − base = ${formatValue(bars.prediction)} − ${formatValue(bars.base)} = ${formatValue(c.expected)} ${c.ok ? "✓" : "✗"}`;
    if (!c.ok) {
      warn.textContent =
        `The attributions do not add up: base + sum = ${formatValue(bars.base + c.sum)} but the prediction is ` +
        `${formatValue(bars.prediction)} (off by ${formatValue(c.diff)})` +
        (c.missing > 0 ? `; ${c.missing} value(s) are not finite.` : ".");
      warn.classList.remove("nbx-hidden");
    }
  }

  function drawChips(): void {
    const entries = baselineEntries(m.get("baseline"));
    chips.replaceChildren();
    chips.classList.toggle("nbx-hidden", entries.length === 0);
    if (entries.length === 0) return;
    const title = doc.createElement("span");
    title.className = "nbx-chips-title";
    title.textContent = "Custom baselines:";
    chips.append(title);
    for (const [name, v] of entries) {
      const chip = doc.createElement("span");
      chip.className = "nbx-chip";
      chip.setAttribute("data-feature", name);
      chip.setAttribute("data-value", String(v));
      const text = doc.createElement("span");
      text.className = "nbx-chip-text";
      text.textContent = `${name}: ${formatFeature(v)}`;
      const x = doc.createElement("button");
      x.type = "button";
      x.className = "nbx-chip-remove";
      x.setAttribute("data-feature", name);
      x.setAttribute("aria-label", `remove the custom baseline of ${name}`);
      x.textContent = "×";
      chip.append(text, x);
      chips.append(chip);
    }
  }

  function drawSummary(): void {
    const on = m.get("summary") === true;
    summaryBox.classList.toggle("nbx-hidden", !on);
    if (!on) return;
    const lut = shell.divergingLut().lut;
    grad.style.background = cssGradientOf(lut);
    const has = summary !== null && summary.values.length > 0;
    swarm.classList.toggle("nbx-hidden", !has);
    legend.classList.toggle("nbx-hidden", !has);
    summaryNote.textContent = has ? `Every row (${summary!.values.length}): x = attribution, colour = the feature's value` : "Computing the attributions of every row…";
    if (has) drawBeeswarm(swarm, summary!, namesFor(m.get("feature_names"), summary!.values[0]?.length ?? 0), lut);
  }

  function redraw(): void {
    if (shell.disposed) return;
    topK.max = String(Math.max(1, featureCount()));
    drawChart();
    drawCheck();
    drawChips();
    drawSummary();
  }

  // ---- baseline handles: pointer and keys -------------------------------------------
  function handleEl(name: string): SVGElement | null {
    for (const h of Array.from(svg.querySelectorAll(".nbx-baseline-handle"))) if (h.getAttribute("data-feature") === name) return h as SVGElement;
    return null;
  }

  function writeBaseline(name: string, value: number | null): void {
    shell.write("baseline", withBaseline(m.get("baseline"), name, value), true);
  }

  /** The value under the pointer on the handles' axis (the SVG may be scaled by CSS). */
  function valueAt(clientX: number, d: Drag): number {
    if (!layout) return d.value;
    const rect = svg.getBoundingClientRect();
    const sx = rect.width > 0 ? layout.width / rect.width : 1;
    return tidy(valueAtX((clientX - rect.left) * sx, layout.hx0, layout.hx1, d.min, d.max));
  }

  const onMove = (ev: PointerEvent): void => {
    if (!drag || (ev.pointerId !== undefined && drag.pointerId !== undefined && ev.pointerId !== drag.pointerId)) return;
    drag.value = valueAt(ev.clientX, drag);
    drag.moved = true;
    const el = handleEl(drag.name);
    if (el && layout) placeHandle(el, { value: drag.value, min: drag.min, max: drag.max, x: null, custom: true }, layout, Number(el.getAttribute("data-row-y")));
    ev.preventDefault();
  };
  const endDrag = (): void => {
    doc.removeEventListener("pointermove", onMove);
    doc.removeEventListener("pointerup", onUp);
    doc.removeEventListener("pointercancel", onCancel);
    root.removeAttribute("data-dragging");
  };
  const onUp = (ev: PointerEvent): void => {
    if (!drag) return endDrag();
    if (typeof ev.clientX === "number" && drag.moved) drag.value = valueAt(ev.clientX, drag);
    const d = drag;
    drag = null;
    endDrag();
    if (d.moved && d.value !== d.start) writeBaseline(d.name, d.value);
    else redraw();
  };
  const onCancel = (): void => {
    drag = null;
    endDrag();
    redraw();
  };
  const onDown = (ev: PointerEvent): void => {
    const t = ev.target as Element | null;
    const h = t && typeof t.closest === "function" ? t.closest(".nbx-baseline-handle") : null;
    if (!h || drag) return;
    if (typeof ev.button === "number" && ev.button > 0) return;
    const name = h.getAttribute("data-feature") ?? "";
    const value = Number(h.getAttribute("data-value"));
    drag = {
      name,
      min: Number(h.getAttribute("data-min")),
      max: Number(h.getAttribute("data-max")),
      start: value,
      value,
      moved: false,
      pointerId: ev.pointerId,
    };
    root.setAttribute("data-dragging", name);
    try {
      (h as Element & { setPointerCapture?: (id: number) => void }).setPointerCapture?.(ev.pointerId);
    } catch {
      /* no capture: the document listeners still follow the pointer */
    }
    doc.addEventListener("pointermove", onMove);
    doc.addEventListener("pointerup", onUp);
    doc.addEventListener("pointercancel", onCancel);
    ev.preventDefault();
  };
  const onKey = (ev: KeyboardEvent): void => {
    const t = ev.target as Element | null;
    const h = t && typeof t.closest === "function" ? t.closest(".nbx-baseline-handle") : null;
    if (!h) return;
    const dir = ev.key === "ArrowRight" || ev.key === "ArrowUp" ? 1 : ev.key === "ArrowLeft" || ev.key === "ArrowDown" ? -1 : 0;
    const min = Number(h.getAttribute("data-min"));
    const max = Number(h.getAttribute("data-max"));
    const v = Number(h.getAttribute("data-value"));
    let next: number | null = null;
    if (dir !== 0) next = nudge(v, min, max, dir);
    else if (ev.key === "Home") next = min;
    else if (ev.key === "End") next = max;
    if (next === null) return;
    ev.preventDefault();
    if (next !== v) writeBaseline(h.getAttribute("data-feature") ?? "", next);
  };
  const onChipClick = (ev: Event): void => {
    const t = ev.target as Element | null;
    const b = t && typeof t.closest === "function" ? t.closest("button.nbx-chip-remove") : null;
    if (!b || !chips.contains(b)) return;
    writeBaseline(b.getAttribute("data-feature") ?? "", null);
  };
  svg.addEventListener("pointerdown", onDown as EventListener);
  svg.addEventListener("keydown", onKey as EventListener);
  chips.addEventListener("click", onChipClick);
  shell.onDestroy(() => {
    svg.removeEventListener("pointerdown", onDown as EventListener);
    svg.removeEventListener("keydown", onKey as EventListener);
    chips.removeEventListener("click", onChipClick);
    endDrag();
  });

  // ---- messages -------------------------------------------------------------------------
  shell.handle("bars", (msg) => {
    if (!shell.take("bars", msg.id)) return;
    let parsed: BarsData;
    try {
      parsed = parseBars(msg);
    } catch (e) {
      shell.showLocalError(`Could not display the result: ${e instanceof Error ? e.message : String(e)}`);
      shell.setStatus("idle");
      return;
    }
    shell.clearLocalError();
    bars = parsed;
    shell.count("bars-received");
    shell.shown(parsed.method, parsed.target);
    root.setAttribute("data-row", String(shownRow()));
    root.setAttribute("data-bars-final", String(parsed.final));
    if (parsed.final) shell.setStatus("idle");
    else shell.setStatus("computing", parsed.progress ? `${parsed.progress[0]}/${parsed.progress[1]}` : "(partial result)");
    redraw();
  });
  shell.handle("summary", (msg) => {
    if (!shell.take("summary", msg.id)) return;
    const f = Array.isArray(msg.values) && Array.isArray(msg.values[0]) ? (msg.values[0] as unknown[]).length : featureCount();
    const values = numberMatrix(msg.values, f);
    const fv = numberMatrix(msg.feature_values, f);
    summary = { id: Number(msg.id), values, featureValues: fv };
    shell.count("summary-received");
    drawSummary();
  });

  // ---- traits -----------------------------------------------------------------------------
  shell.on("change:rows", () => {
    rowPicker.rebuild();
    redraw();
  });
  shell.on("change:feature_names", () => redraw());
  shell.on("change:baseline", () => redraw());
  shell.on("change:background_stats", () => redraw());
  shell.on("change:status", () => {
    if (!bars) drawChart();
  });

  shell.initCounter("bars-received");
  shell.initCounter("summary-received");
  root.setAttribute("data-bars-final", "");
  redraw();
  // a reload or a second display: the last final bars the kernel keeps in the `bars` trait
  const kept = m.get("bars") as Record<string, unknown> | null | undefined;
  if (!bars && kept && Array.isArray(kept.values)) {
    try {
      bars = parseBars(kept);
      shell.count("bars-received");
      shell.shown(bars.method, bars.target);
      root.setAttribute("data-row", String(shownRow()));
      root.setAttribute("data-bars-final", "true");
      redraw();
    } catch (e) {
      console.warn("nbexplain: cannot draw the kept bars", e);
    }
  }

  return () => shell.destroy();
}
