/**
 * view = "sequence" (protocol16): the T×D attributions of a sequence (N×T×D float input) as a
 * heatmap, time on x and features on y (`canvas.nbx-seq-map`, the diverging table over a
 * symmetric range), a cursor (`.nbx-seq-cursor[data-step]`: a click or a drag on the map, or
 * the arrow keys on the focused map, sets the display-only `cursor` trait) and the D features'
 * bars at the cursor step (`svg.nbx-bars`, `.nbx-bar[data-feature]`).
 *
 * Messages: the image view's `attribution` (values float32 T×D, mask, meta). Root counters:
 * `data-maps-received`, `data-map-checksum`, `data-stale-ignored`; `data-cursor`.
 */
import { signColors, sortByMagnitude, maxAbs } from "../lib/bars";
import { checksum } from "../lib/codec";
import { colorize, cssGradientOf } from "../lib/colormap";
import { as2dMeta, decodeMap } from "../lib/decode";
import type { MapData } from "../lib/display";
import { formatValue } from "../lib/format";
import { clampStep, seqLayout, stepAt, transposeTD, valuesAtStep } from "../lib/sequence";
import { drawBarChart, type ChartRow } from "./bar-chart";
import { asRecord, errorText, namesFor, stringList, mountExamplePicker, ViewShell, type ViewProps } from "./shell";
import { SVG_NS } from "./svg";

export function renderSequence(props: ViewProps): () => void {
  const shell = new ViewShell(props, { view: "sequence", jobKind: "attribution", redraw: () => redraw() });
  const { m, doc, root } = shell;
  mountExamplePicker(shell, () => redraw());
  /** h = T steps, w = D features. */
  let map: MapData | null = null;
  let dragging = false;

  // ---- DOM ------------------------------------------------------------------------
  const box = doc.createElement("div");
  box.className = "nbx-seq";
  const row = doc.createElement("div");
  row.className = "nbx-seq-row";
  const labels = doc.createElement("div");
  labels.className = "nbx-seq-labels";
  const wrap = doc.createElement("div");
  wrap.className = "nbx-seq-wrap";
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "slider");
  wrap.setAttribute("aria-label", "time step (cursor)");
  const canvas = doc.createElement("canvas");
  canvas.className = "nbx-seq-map";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "attributions: time on x, features on y");
  const cursorEl = doc.createElement("div");
  cursorEl.className = "nbx-seq-cursor";
  const placeholder = doc.createElement("div");
  placeholder.className = "nbx-placeholder";
  wrap.append(canvas, cursorEl, placeholder);
  row.append(labels, wrap);
  const axis = doc.createElement("div");
  axis.className = "nbx-seq-axis";
  const first = doc.createElement("span");
  const stepText = doc.createElement("span");
  stepText.className = "nbx-seq-step";
  const last = doc.createElement("span");
  axis.append(first, stepText, last);
  const cbarRow = doc.createElement("div");
  cbarRow.className = "nbx-colorbar-row";
  const cmin = doc.createElement("span");
  cmin.className = "nbx-cbar-min";
  const cbar = doc.createElement("div");
  cbar.className = "nbx-colorbar";
  const cmax = doc.createElement("span");
  cmax.className = "nbx-cbar-max";
  cbarRow.append(cmin, cbar, cmax);
  const svg = doc.createElementNS(SVG_NS, "svg") as SVGSVGElement;
  svg.setAttribute("class", "nbx-bars");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "feature attributions at the cursor step");
  box.append(row, axis, cbarRow, svg);
  shell.body.append(box);

  // ---- drawing ------------------------------------------------------------------------
  const dims = (): { t: number; d: number } => (map ? { t: map.h, d: map.w } : { t: stringList(m.get("steps_labels")).length, d: stringList(m.get("feature_names")).length });
  const cursor = (): number => clampStep(m.get("cursor"), dims().t);
  const stepLabel = (s: number): string => {
    const l = stringList(m.get("steps_labels"));
    return l[s] !== undefined ? l[s] : String(s);
  };

  function drawMap(): void {
    const { t, d } = dims();
    const L = seqLayout(t, d);
    const names = namesFor(m.get("feature_names"), d);
    labels.replaceChildren();
    labels.classList.toggle("nbx-hidden", !L.labels || !map);
    box.classList.toggle("nbx-no-labels", !L.labels || !map);
    if (L.labels && map) {
      for (const n of names) {
        const s = doc.createElement("div");
        s.className = "nbx-seq-label";
        s.style.height = `${L.cellH}px`;
        s.style.lineHeight = `${L.cellH}px`;
        s.textContent = n;
        s.title = n;
        labels.append(s);
      }
    }
    placeholder.classList.toggle("nbx-hidden", !!map);
    canvas.classList.toggle("nbx-hidden", !map);
    cursorEl.classList.toggle("nbx-hidden", !map);
    cbarRow.classList.toggle("nbx-hidden", !map);
    if (!map) {
      placeholder.textContent = m.get("status") === "computing" ? "Computing…" : "No attributions yet.";
      return;
    }
    const lut = shell.divergingLut();
    const mx = maxAbs(map.values);
    const tr = transposeTD(map.values, map.mask, t, d);
    const rgba = colorize(tr.values, tr.mask, { lut: lut.lut, diverging: true, vmin: -mx, vmax: mx });
    if (canvas.width !== t) canvas.width = t;
    if (canvas.height !== d) canvas.height = d;
    canvas.style.width = `${L.width}px`;
    canvas.style.height = `${L.height}px`;
    canvas.dataset.rasterWidth = String(t);
    canvas.dataset.rasterHeight = String(d);
    const ctx = canvas.getContext("2d");
    if (ctx && t > 0 && d > 0) {
      const img = ctx.createImageData(t, d);
      img.data.set(rgba);
      ctx.putImageData(img, 0, 0);
    }
    cbar.style.background = cssGradientOf(lut.lut);
    cmin.textContent = formatValue(-mx);
    cmax.textContent = formatValue(mx);
  }

  function drawCursor(): void {
    const { t, d } = dims();
    const s = cursor();
    root.setAttribute("data-cursor", String(s));
    cursorEl.setAttribute("data-step", String(s));
    cursorEl.style.left = `${t > 0 ? ((s + 0.5) / t) * 100 : 0}%`;
    wrap.setAttribute("aria-valuemin", "0");
    wrap.setAttribute("aria-valuemax", String(Math.max(0, t - 1)));
    wrap.setAttribute("aria-valuenow", String(s));
    wrap.setAttribute("aria-valuetext", `step ${s}: ${stepLabel(s)}`);
    const l = stringList(m.get("steps_labels"));
    first.textContent = t > 0 ? (l[0] ?? "0") : "";
    last.textContent = t > 1 ? (l[t - 1] ?? String(t - 1)) : "";
    stepText.textContent = map ? `step ${s}: ${stepLabel(s)}` : "";
    // bars of the D features at the cursor step
    const names = namesFor(m.get("feature_names"), d);
    const vals = map ? valuesAtStep(map.values, map.mask, t, d, s) : [];
    const rows: ChartRow[] = sortByMagnitude(vals.map((value, index) => ({ index, value }))).map((f) => ({
      feature: names[f.index],
      index: f.index,
      label: names[f.index],
      value: f.value,
    }));
    drawBarChart(svg, rows, {
      colors: signColors(shell.divergingLut().lut),
      handles: false,
      title: map ? `step ${s}: ${stepLabel(s)}` : undefined,
      emptyText: "No attributions yet.",
    });
  }

  function redraw(): void {
    if (shell.disposed) return;
    try {
      drawMap();
      drawCursor();
    } catch (e) {
      console.error("nbexplain: drawing failed", e);
      shell.showLocalError(`Could not draw: ${errorText(e)}`);
    }
  }

  // ---- the cursor: pointer and keys ---------------------------------------------------
  function setCursor(s: number): void {
    if (m.get("cursor") === s) return;
    shell.write("cursor", s, false); // display-only: no settle
    drawCursor();
  }
  const stepOf = (clientX: number): number => {
    const r = wrap.getBoundingClientRect();
    return stepAt(clientX, r.left, r.width, dims().t);
  };
  const onMove = (ev: PointerEvent): void => {
    if (!dragging) return;
    setCursor(stepOf(ev.clientX));
  };
  const stop = (): void => {
    dragging = false;
    doc.removeEventListener("pointermove", onMove);
    doc.removeEventListener("pointerup", stop);
    doc.removeEventListener("pointercancel", stop);
  };
  const onDown = (ev: PointerEvent): void => {
    if (!map || (typeof ev.button === "number" && ev.button > 0)) return;
    dragging = true;
    setCursor(stepOf(ev.clientX));
    doc.addEventListener("pointermove", onMove);
    doc.addEventListener("pointerup", stop);
    doc.addEventListener("pointercancel", stop);
    ev.preventDefault();
  };
  const onKey = (ev: KeyboardEvent): void => {
    const { t } = dims();
    const s = cursor();
    const next =
      ev.key === "ArrowRight" || ev.key === "ArrowUp" ? s + 1 : ev.key === "ArrowLeft" || ev.key === "ArrowDown" ? s - 1 : ev.key === "Home" ? 0 : ev.key === "End" ? t - 1 : null;
    if (next === null) return;
    ev.preventDefault();
    setCursor(clampStep(next, t));
  };
  wrap.addEventListener("pointerdown", onDown as EventListener);
  wrap.addEventListener("keydown", onKey as EventListener);
  shell.onDestroy(() => {
    wrap.removeEventListener("pointerdown", onDown as EventListener);
    wrap.removeEventListener("keydown", onKey as EventListener);
    stop();
  });

  // ---- messages --------------------------------------------------------------------------
  shell.handle("attribution", (msg, buffers) => {
    if (!shell.take("attribution", msg.id)) return;
    const meta = as2dMeta(asRecord(msg.meta), "column");
    const values = buffers.length > 0 ? buffers[0] : null;
    let next: MapData;
    try {
      next = decodeMap(meta, values, meta.masked === true ? (buffers[1] ?? null) : null);
    } catch (e) {
      shell.showLocalError(`Could not display the result: ${errorText(e)}`);
      shell.setStatus("idle");
      return;
    }
    shell.clearLocalError();
    map = next;
    shell.mapArrived(checksum(values), msg);
    redraw();
  });

  // ---- traits -------------------------------------------------------------------------------
  shell.on("change:cursor", () => drawCursor());
  shell.on("change:feature_names", () => redraw());
  shell.on("change:steps_labels", () => redraw());
  shell.on("change:status", () => {
    if (!map) drawMap();
  });

  shell.initCounter("maps-received");
  root.setAttribute("data-map-checksum", "");
  redraw();
  // a reload or a second display: the last final map the kernel keeps in the `map` trait
  const kept = asRecord(m.get("map"));
  if (!map && Array.isArray(kept.shape) && Array.isArray(kept.values)) {
    const shape = kept.shape as number[];
    const [t, d] = shape.length === 2 ? shape : [shape[0], 1];
    const vals = (kept.values as unknown[]).map((v) => (typeof v === "number" ? v : NaN));
    if (vals.length === t * d) {
      const mask = vals.some((v) => !Number.isFinite(v)) ? Uint8Array.from(vals, (v) => (Number.isFinite(v) ? 0 : 1)) : null;
      map = { values: Float32Array.from(vals, (v) => (Number.isFinite(v) ? v : 0)), mask, h: t, w: d, signed: kept.signed === true } as MapData;
      shell.count("maps-received");
      shell.shown(kept.method, kept.target);
      redraw();
    }
  }

  return () => shell.destroy();
}
