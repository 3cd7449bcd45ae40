/**
 * nbexplain anywidget front end (protocol v2, /work/notes/protocol.md and
 * docs/ARCHITECTURE.md): the widget as an instrument. Every control is a synced trait
 * (declared in ui/compute-controls.ts and ui/display-controls.ts); the kernel observes
 * the compute traits and recomputes (latest wins), and sends its results as custom
 * messages (`attribution`, `progress`, `error`, `path`, `compare`, `correlations`).
 *
 * Layout: the thumbnail strip (batches) on top; the image + overlay and the class list on
 * the left; panels on the right: Method, Baseline, Display, Path (IG), Compare; the status
 * line below. The stylesheet is js/widget.css (built to nbexplain/static/widget.css and
 * passed by the kernel as anywidget's `_css`): nothing is injected into the document.
 *
 * One bundle serves every view (protocol16, /work/notes/protocol16.md): `render` dispatches on
 * the `view` trait to js/views/table.ts, sequence.ts, text.ts or global.ts; anything else
 * (missing, empty, "image", unknown) is the image view below (`renderImage`), whose root
 * carries `data-view="image"`.
 */
import { settle } from "./lib/bind";
import { captionLines, composePng, download, exportButton, svgFile } from "./lib/export";
import type { AnyModel, AnyWidget, RenderProps } from "@anywidget/types";
import { asBytes, byteLengthOf, checksum, decodeArray } from "./lib/codec";
import { lutSource } from "./lib/colormap";
import { decodeMap } from "./lib/decode";
import { imageDims, imageToRGBA } from "./lib/draw";
import { formatValue } from "./lib/format";
import { IG, labelOf, optionsOf, sanitizeMethodChoices } from "./lib/methods";
import { isPictureEncoding, levelsToMap, pictureDecoder, type Picture, type PictureEncoding } from "./lib/picture";
import { LatestIds } from "./lib/requests";
import type { AttributionMessage, BytesLike, CompareMessage, CorrelationsMessage, PathMessage, WidgetTraits } from "./lib/types";
import { ControlBar, type ControlContext, type ControlSpec } from "./ui/bound-controls";
import { BrushTool } from "./ui/brush";
import { ClassList, sanitizeTopClasses } from "./ui/classes";
import { ComparePanel } from "./ui/compare";
import { COMPUTE_CONTROLS } from "./ui/compute-controls";
import { StatusLine } from "./ui/controls";
import { DeltaChart } from "./ui/delta-chart";
import { DISPLAY_CONTROLS } from "./ui/display-controls";
import { HeatmapView, type HeatmapData, type ImageRaster } from "./ui/heatmap";
import { PathView } from "./ui/path";
import { ThumbStrip } from "./ui/thumbs";
import { renderGlobal } from "./views/global";
import { viewKind, type ViewKind } from "./views/shell";
import { renderSequence } from "./views/sequence";
import { renderTable } from "./views/table";
import { renderText } from "./views/text";

type Model = AnyModel<WidgetTraits>;

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A float H×W buffer of the given size (the uncertainty map, the path's maps). */
function decodeFloatMap(meta: unknown, bytes: BytesLike | null | undefined, signed: boolean): HeatmapData {
  const r = asRecord(meta);
  return decodeMap({ dtype: r.dtype ?? "float32", shape: r.shape, masked: false, signed: r.signed ?? signed }, bytes, null);
}

/** An uint8 H×W×C image buffer as RGBA. */
function decodeImage(meta: unknown, bytes: BytesLike | null | undefined): ImageRaster {
  const r = asRecord(meta);
  const { h, w, c } = imageDims(r.shape as number[]);
  const dec = decodeArray({ dtype: (r.dtype as string) ?? "uint8", shape: [h, w, c] }, bytes);
  if (dec.dtype !== "uint8") throw new Error("nbexplain: image must be uint8");
  return { rgba: imageToRGBA(dec.data as Uint8Array, h, w, c), h, w };
}

/** A `<details open class="nbx-panel" data-panel=...>` with its title. */
function panel(doc: Document, name: string, title: string): HTMLDetailsElement {
  const d = doc.createElement("details");
  d.className = "nbx-panel";
  d.dataset.panel = name;
  d.open = true;
  const s = doc.createElement("summary");
  s.textContent = title;
  d.append(s);
  return d;
}

/** The image view (the instrument of protocol v2). */
function renderImage({ model, el }: Pick<RenderProps<WidgetTraits>, "model" | "el">): () => void {
  const m = model as Model;
  const doc = el.ownerDocument ?? document;
  const ids = new LatestIds();

  // ---- DOM ------------------------------------------------------------------
  const root = doc.createElement("div");
  root.className = "nbx-root";
  root.setAttribute("data-view", "image");
  const main = doc.createElement("div");
  main.className = "nbx-main";
  const left = doc.createElement("div");
  left.className = "nbx-left";
  const right = doc.createElement("div");
  right.className = "nbx-right";
  const caption = doc.createElement("div");
  caption.className = "nbx-caption";
  const view = new HeatmapView(doc);
  view.el.prepend(caption);

  const status = new StatusLine(doc);
  let mapsReceived = 0;
  let pathsReceived = 0;
  let compareReceived = 0;
  let correlationsReceived = 0;
  let staleIgnored = 0;
  let shownId = -Infinity; // job id of the map on screen
  let localError = "";
  let lastDelta: number | undefined;
  let shownTarget: number | null = null;
  let shownMethod = "";
  let disposed = false;

  const classes = new ClassList({ model: m, doc });
  const thumbs = new ThumbStrip(m, doc);
  const pathView = new PathView(doc);
  const deltaChart = new DeltaChart(doc);
  const compare = new ComparePanel({ model: m, doc, onChange: () => redrawAll() });
  const brush = new BrushTool({ model: m, view, doc });

  // One control per trait (see the two control lists); a change re-evaluates which
  // controls are shown, and a display change redraws from the data already here.
  const computeSpecs = COMPUTE_CONTROLS as unknown as readonly ControlSpec<unknown>[];
  const bar = (name: string) =>
    new ControlBar<unknown>(
      computeSpecs.filter((s) => s.panel === name),
      { model: m, doc, target: null, afterChange: () => refreshVisibility(), onSettle: () => settle(m) },
    );
  const methodBar = bar("method");
  const baselineBar = bar("baseline");
  const pathBar = bar("path");
  const displayBar = new ControlBar(DISPLAY_CONTROLS as unknown as readonly ControlSpec<HeatmapView>[], {
    model: m,
    doc,
    target: view,
    afterChange: () => {
      refreshVisibility();
      redrawAll();
    },
  });
  const bars = [methodBar, baselineBar, pathBar, displayBar];

  const methodPanel = panel(doc, "method", "Method");
  methodPanel.append(methodBar.el, deltaChart.el);
  const baselinePanel = panel(doc, "baseline", "Baseline");
  baselinePanel.append(baselineBar.el, brush.el);
  const displayPanel = panel(doc, "display", "Display");
  // Export: the composed view as PNG (the picture, the caption and the classes as text),
  // the completeness-error chart as SVG
  const exportRow = doc.createElement("div");
  exportRow.className = "nbx-export-row";
  exportRow.append(
    exportButton(doc, "nbx-export-png", "Save PNG", () => {
      const lines = captionLines(caption.textContent ?? "", sanitizeTopClasses(m.get("top_classes")).map((c) => ({ label: c.label, prob: Number.isFinite(c.prob) ? c.prob : null })));
      composePng(doc, view.canvas, lines).toBlob((blob) => {
        if (blob) download(doc, blob, "nbexplain-view.png");
      }, "image/png");
    }),
    exportButton(doc, "nbx-export-svg", "Save chart SVG", () => {
      const chart = root.querySelector("svg.nbx-delta-chart") as SVGSVGElement | null;
      if (chart) download(doc, new Blob([svgFile(chart)], { type: "image/svg+xml" }), "nbexplain-delta.svg");
    }),
  );
  displayPanel.append(displayBar.el, exportRow);
  const pathPanel = panel(doc, "path", "Path");
  pathPanel.append(pathBar.el, pathView.el);
  const comparePanel = panel(doc, "compare", "Compare");
  comparePanel.append(compare.el);

  left.append(view.el, classes.el);
  right.append(methodPanel, baselinePanel, displayPanel, pathPanel, comparePanel);
  main.append(left, right);
  root.append(thumbs.el, main, status.el);
  el.append(root);

  // ---- helpers --------------------------------------------------------------
  function setStatus(s: string, detail = ""): void {
    const v = s === "computing" ? "computing" : "idle";
    root.setAttribute("data-status", v);
    status.setStatus(v, detail);
  }

  function setShownTarget(t: unknown): void {
    if (typeof t !== "number" || !Number.isFinite(t)) return;
    shownTarget = t;
    root.setAttribute("data-target", String(t));
  }

  function setShownMethod(name: unknown): void {
    if (typeof name !== "string") return;
    shownMethod = name;
    root.setAttribute("data-method", name);
  }

  function context(): ControlContext {
    const method = String(m.get("method") ?? "");
    return {
      get: (trait) => m.get(trait as keyof WidgetTraits),
      method,
      methodOptions: optionsOf(sanitizeMethodChoices(m.get("method_choices")), method),
      hasUncertainty: !!view.getMap()?.uncertainty,
    };
  }

  function refreshVisibility(): void {
    const ctx = context();
    for (const b of bars) b.updateVisibility(ctx);
    const ig = ctx.method === IG;
    pathPanel.classList.toggle("nbx-hidden", !ig);
    deltaChart.el.classList.toggle("nbx-hidden", !ig);
  }

  function updateCaption(): void {
    const parts: string[] = [];
    if (shownMethod) parts.push(labelOf(sanitizeMethodChoices(m.get("method_choices")), shownMethod));
    if (shownTarget !== null) {
      const c = sanitizeTopClasses(m.get("top_classes")).find((x) => x.index === shownTarget);
      parts.push(c ? `${c.label} (class ${shownTarget})` : `class ${shownTarget}`);
    }
    if (typeof lastDelta === "number" && Number.isFinite(lastDelta)) parts.push(`Δ = ${formatValue(lastDelta)}`);
    if (view.drawnLayer() === "uncertainty") parts.push("95% CI half-width");
    caption.textContent = parts.join(" · ");
    caption.classList.toggle("nbx-hidden", parts.length === 0);
  }

  function safeDraw(): void {
    try {
      view.draw();
    } catch (e) {
      console.error("nbexplain: drawing failed", e);
      view.setMessage(`Could not draw: ${errorText(e)}`);
      try {
        view.draw();
      } catch {
        /* placeholder only */
      }
    }
  }

  /** Redraw every view from the data already here (display settings changed). */
  function redrawAll(): void {
    safeDraw();
    updateCaption();
    const settings = view.settings();
    const luts = view.lutSource();
    try {
      pathView.draw(settings, luts);
      compare.draw(settings, luts);
    } catch (e) {
      console.error("nbexplain: drawing failed", e);
      status.setError(`Could not draw: ${errorText(e)}`);
    }
  }

  function markDrawn(bytes: BytesLike | null | undefined): void {
    mapsReceived += 1;
    root.setAttribute("data-maps-received", String(mapsReceived));
    root.setAttribute("data-map-checksum", checksum(bytes));
  }

  function stale(): void {
    staleIgnored += 1;
    root.setAttribute("data-stale-ignored", String(staleIgnored));
  }

  function showLocalError(text: string): void {
    localError = text;
    status.setError(text);
  }

  function clearLocalError(): void {
    if (!localError) return;
    localError = "";
    status.setError(m.get("error"));
  }

  function loadLuts(): void {
    let bytes: Uint8Array | null = null;
    try {
      const raw = m.get("colormap_lut");
      bytes = byteLengthOf(raw) > 0 ? asBytes(raw) : null;
    } catch {
      bytes = null;
    }
    view.setLutSource(lutSource(m.get("colormap_names"), bytes));
  }

  // Pictures in the traits decode asynchronously; a newer trait value (or a newer map from a
  // message) makes an older decode's result stale, so each load takes a ticket.
  let imageTicket = 0;
  let mapTicket = 0;

  function loadImage(): void {
    const ticket = ++imageTicket;
    const bytes = m.get("image");
    const meta = asRecord(m.get("image_meta"));
    if (byteLengthOf(bytes) === 0 || !Array.isArray(meta.shape)) {
      view.setImage(null);
      return;
    }
    if (isPictureEncoding(meta.encoding)) {
      pictureDecoder.decode(bytes!, meta.encoding).then(
        (pic: Picture) => {
          if (disposed || ticket !== imageTicket) return;
          view.setImage({ rgba: pic.rgba, h: pic.h, w: pic.w });
          safeDraw();
        },
        (e: unknown) => console.warn("nbexplain: cannot decode the image", e),
      );
      return;
    }
    try {
      view.setImage(decodeImage(meta, bytes));
    } catch (e) {
      console.warn("nbexplain: cannot display the image", e);
      view.setImage(null);
    }
  }

  /** The map of the heatmap traits stored as a picture of 256 levels between `lo` and `hi`. */
  async function pictureMap(meta: Record<string, unknown>, bytes: BytesLike): Promise<HeatmapData> {
    const encoding = meta.encoding as PictureEncoding;
    const maskBytes = m.get("heatmap_mask");
    const [pic, maskPic] = await Promise.all([
      pictureDecoder.decode(bytes, encoding),
      meta.masked === true && byteLengthOf(maskBytes) > 0 ? pictureDecoder.decode(maskBytes!, "png") : Promise.resolve(null),
    ]);
    const { values, mask } = levelsToMap(pic.rgba, Number(meta.lo), Number(meta.hi), maskPic ? maskPic.rgba : null);
    return { values, mask, h: pic.h, w: pic.w, signed: meta.signed === true };
  }

  /** Draw the map held in the traits. `initial`: first render (always drawn). */
  function loadHeatmapFromTraits(initial: boolean): void {
    const ticket = ++mapTicket;
    const bytes = m.get("heatmap");
    const meta = asRecord(m.get("heatmap_meta"));
    if (byteLengthOf(bytes) === 0 || !Array.isArray(meta.shape)) {
      if (initial) view.setMap(null);
      return;
    }
    const rid = typeof meta.request_id === "number" ? meta.request_id : null;
    // The kernel stores each final map in the traits right after sending it as a message:
    // that job's exact map is already on screen (the traits hold a compressed copy).
    if (!initial && rid !== null && rid <= shownId) return;
    const show = (map: HeatmapData): void => {
      if (disposed || ticket !== mapTicket) return;
      if (rid !== null && (initial ? rid < shownId : rid <= shownId)) return; // a message got there first
      view.setMap(map);
      view.setMessage("");
      if (rid !== null) {
        shownId = Math.max(shownId, rid);
        ids.observe("attribution", rid);
      }
      setShownTarget(typeof meta.target === "number" ? meta.target : m.get("target"));
      setShownMethod(typeof meta.method === "string" ? meta.method : m.get("method"));
      lastDelta = undefined;
      markDrawn(bytes);
      refreshVisibility();
      updateCaption();
      safeDraw();
    };
    // Traits may be briefly inconsistent when they are not set in one sync; keep the old map.
    const keep = (e: unknown): void => console.warn("nbexplain: cannot decode the heatmap trait", e);
    if (!isPictureEncoding(meta.encoding)) {
      let map: HeatmapData;
      try {
        map = decodeMap(meta, bytes, m.get("heatmap_mask"));
      } catch (e) {
        keep(e);
        return;
      }
      show(map);
      return;
    }
    pictureMap(meta, bytes!).then(show, keep);
  }

  // ---- messages -------------------------------------------------------------
  function onAttribution(msg: AttributionMessage, buffers: DataView[]): void {
    if (!ids.take("attribution", msg.id)) return stale();
    const meta = asRecord(msg.meta);
    const values = buffers.length > 0 ? buffers[0] : null;
    let next = 1;
    const mask = meta.masked === true ? (buffers[next++] ?? null) : null;
    const unc = msg.uncertainty === true ? (buffers[next++] ?? null) : null;
    // cells whose interval is unbounded (too few samples): masked, never drawn as a number
    const uncMask = unc && (msg as { uncertainty_masked?: boolean }).uncertainty_masked === true ? (buffers[next++] ?? null) : null;
    let map: HeatmapData;
    try {
      map = decodeMap(meta, values, mask);
      if (unc) {
        const u = decodeArray({ dtype: "float32", shape: [map.h, map.w] }, unc);
        map.uncertainty = u.data as Float32Array;
        if (uncMask) {
          const um = decodeArray({ dtype: "uint8", shape: [map.h, map.w] }, uncMask).data as Uint8Array;
          const both = new Uint8Array(um.length);
          for (let i = 0; i < um.length; i++) both[i] = um[i] || (map.mask ? map.mask[i] : 0) ? 1 : 0;
          map.uncertaintyMask = both;
        }
      }
    } catch (e) {
      showLocalError(`Could not display the result: ${errorText(e)}`);
      setStatus("idle");
      return;
    }
    clearLocalError();
    view.setMap(map);
    view.setMessage("");
    mapTicket += 1; // a trait decode still under way is older than this map
    shownId = msg.id;
    setShownTarget(msg.target);
    setShownMethod(msg.method);
    lastDelta = typeof msg.delta === "number" ? msg.delta : undefined;
    markDrawn(values);
    refreshVisibility();
    updateCaption();
    safeDraw();
    if (msg.final) setStatus("idle");
    else setStatus("computing", "(partial result)");
  }

  function onPath(msg: PathMessage, buffers: DataView[]): void {
    if (!ids.take("path", msg.id)) return stale();
    try {
      const image = decodeImage(msg.image_meta, buffers[0]);
      const grad = decodeFloatMap(msg.grad_meta, buffers[1], true);
      const accum = decodeFloatMap(msg.accum_meta, buffers[2], true);
      pathView.setPath({ id: msg.id, alpha: Number(msg.alpha), image, grad, accum });
    } catch (e) {
      showLocalError(`Could not display the path: ${errorText(e)}`);
      return;
    }
    pathsReceived += 1;
    root.setAttribute("data-paths-received", String(pathsReceived));
    pathView.draw(view.settings(), view.lutSource());
  }

  function onCompare(msg: CompareMessage, buffers: DataView[]): void {
    if (!ids.take("compare", msg.id)) return stale();
    const failed = (msg as { error?: unknown }).error;
    if (typeof failed === "string") {
      compare.setError(String(msg.method), failed);
      compare.draw(view.settings(), view.lutSource());
      return;
    }
    const meta = asRecord(msg.meta);
    let map: HeatmapData;
    try {
      map = decodeMap(meta, buffers[0], meta.masked === true ? buffers[1] : null);
    } catch (e) {
      showLocalError(`Could not display the ${String(msg.method)} comparison map: ${errorText(e)}`);
      return;
    }
    if (!compare.setMap(String(msg.method), map, msg.id)) return; // no longer ticked
    compareReceived += 1;
    root.setAttribute("data-compare-received", String(compareReceived));
    compare.draw(view.settings(), view.lutSource());
  }

  function onCorrelations(msg: CorrelationsMessage): void {
    if (!ids.take("correlations", msg.id)) return stale();
    if (!compare.setCorrelations(msg.id, msg.methods, msg.matrix)) return;
    correlationsReceived += 1;
    root.setAttribute("data-correlations-received", String(correlationsReceived));
    compare.draw(view.settings(), view.lutSource());
  }

  // ---- listeners ------------------------------------------------------------
  const subs: Array<[string, (...args: any[]) => void]> = [];
  function on(event: string, fn: (...args: any[]) => void): void {
    m.on(event, fn);
    subs.push([event, fn]);
  }

  // Several heatmap traits usually change together; draw once per batch.
  let traitDrawPending = false;
  function scheduleTraitHeatmap(): void {
    if (traitDrawPending) return;
    traitDrawPending = true;
    queueMicrotask(() => {
      traitDrawPending = false;
      if (disposed) return;
      loadHeatmapFromTraits(false);
      updateCaption();
      safeDraw();
    });
  }

  on("change:heatmap", scheduleTraitHeatmap);
  on("change:heatmap_meta", scheduleTraitHeatmap);
  on("change:heatmap_mask", scheduleTraitHeatmap);
  on("change:image", () => {
    loadImage();
    safeDraw();
  });
  on("change:image_meta", () => {
    loadImage();
    safeDraw();
  });
  on("change:top_classes", () => {
    classes.setClasses(m.get("top_classes"));
    classes.setSelected(m.get("target"));
    updateCaption();
  });
  on("change:target", () => {
    if (shownTarget === null) setShownTarget(m.get("target"));
    classes.setSelected(m.get("target"));
  });
  on("change:method_choices", () => {
    refreshVisibility();
    updateCaption();
  });
  on("change:colormap_lut", () => {
    loadLuts();
    redrawAll();
  });
  on("change:colormap_names", () => {
    loadLuts();
    redrawAll();
  });
  on("change:delta_curve", () => deltaChart.setCurve(m.get("delta_curve")));
  on("change:status", () => setStatus(m.get("status")));
  on("change:error", () => {
    localError = "";
    status.setError(m.get("error"));
  });
  on("change:warning", () => status.setWarning(m.get("warning")));

  on("msg:custom", (msg: unknown, buffers: DataView[]) => {
    const k = asRecord(msg);
    const bufs = Array.isArray(buffers) ? buffers : [];
    try {
      if (k.kind === "attribution") onAttribution(k as unknown as AttributionMessage, bufs);
      else if (k.kind === "path") onPath(k as unknown as PathMessage, bufs);
      else if (k.kind === "compare") onCompare(k as unknown as CompareMessage, bufs);
      else if (k.kind === "correlations") onCorrelations(k as unknown as CorrelationsMessage);
      else if (k.kind === "progress") {
        if (!ids.accepts("attribution", k.id)) return;
        const done = Number(k.done);
        const total = Number(k.total);
        setStatus("computing", Number.isFinite(done) && Number.isFinite(total) && total > 0 ? `${done}/${total}` : "");
      } else if (k.kind === "error" || (k.kind === undefined && typeof k.error === "string")) {
        if (!ids.accepts("attribution", k.id)) return;
        showLocalError(typeof k.error === "string" ? k.error : "unknown error");
        setStatus("idle");
      }
    } catch (e) {
      console.error("nbexplain: failed to handle a kernel message", e);
      showLocalError(`Could not handle a kernel message: ${errorText(e)}`);
    }
  });

  // ---- initial state --------------------------------------------------------
  root.setAttribute("data-maps-received", "0");
  root.setAttribute("data-map-checksum", "");
  root.setAttribute("data-stale-ignored", "0");
  root.setAttribute("data-paths-received", "0");
  root.setAttribute("data-compare-received", "0");
  root.setAttribute("data-correlations-received", "0");
  root.setAttribute("data-method", "");
  setStatus(m.get("status"));
  setShownTarget(m.get("target"));
  status.setError(m.get("error"));
  status.setWarning(m.get("warning"));
  classes.setClasses(m.get("top_classes"));
  classes.setSelected(m.get("target"));
  deltaChart.setCurve(m.get("delta_curve"));
  loadLuts();
  loadImage();
  loadHeatmapFromTraits(true);
  refreshVisibility();
  redrawAll();

  return () => {
    disposed = true;
    for (const [event, fn] of subs) m.off(event, fn);
    subs.length = 0;
    classes.destroy();
    thumbs.destroy();
    compare.destroy();
    brush.destroy();
    for (const b of bars) b.destroy();
    root.remove();
  };
}

type ViewRender = (props: Pick<RenderProps, "model" | "el">) => () => void;

function renderOf(kind: ViewKind): ViewRender {
  switch (kind) {
    case "table":
      return renderTable;
    case "sequence":
      return renderSequence;
    case "text":
      return renderText;
    case "global":
      return renderGlobal;
    default:
      return renderImage as unknown as ViewRender;
  }
}

/**
 * anywidget's render: the view the `view` trait names. Should the kernel change `view`
 * afterwards, the old view is taken down and the new one drawn in the same element.
 */
function render({ model, el }: Pick<RenderProps<WidgetTraits>, "model" | "el">): () => void {
  const m = model as unknown as AnyModel;
  let kind = viewKind(m.get("view"));
  let cleanup = renderOf(kind)({ model: m, el });
  const onView = (): void => {
    const next = viewKind(m.get("view"));
    if (next === kind) return;
    cleanup();
    kind = next;
    cleanup = renderOf(kind)({ model: m, el });
  };
  m.on("change:view", onView);
  return () => {
    m.off("change:view", onView);
    cleanup();
  };
}

export default { render } satisfies AnyWidget<WidgetTraits>;
