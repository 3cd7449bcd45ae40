/**
 * nbexplain anywidget front end: wires the traits and custom messages of
 * docs/ARCHITECTURE.md to the heatmap view, the top-5 list and the controls.
 */
import type { AnyModel, AnyWidget, RenderProps } from "@anywidget/types";
import { byteLengthOf, checksum, decodeArray } from "./lib/codec";
import { imageDims, imageToRGBA } from "./lib/draw";
import { formatValue } from "./lib/format";
import { isPictureEncoding, levelsToMap, pictureDecoder, type Picture, type PictureEncoding } from "./lib/picture";
import { trackerFor } from "./lib/requests";
import type { AttributionMessage, BytesLike, KernelMessage, WidgetTraits } from "./lib/types";
import { ClassList, sanitizeTopClasses } from "./ui/classes";
import { ControlBar } from "./ui/bound-controls";
import { StatusLine } from "./ui/controls";
import { DISPLAY_CONTROLS } from "./ui/display-controls";
import { HeatmapView, type HeatmapData } from "./ui/heatmap";
import { injectStyles } from "./ui/styles";

type Model = AnyModel<WidgetTraits>;

function asRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Decode a values buffer (+ optional mask) into a 2-D map. Throws on malformed input. */
function decodeMap(
  meta: Record<string, unknown>,
  values: BytesLike | null | undefined,
  mask: BytesLike | null | undefined,
): HeatmapData {
  const dec = decodeArray({ dtype: meta.dtype as string, shape: meta.shape as number[] }, values);
  if (dec.shape.length !== 2) {
    throw new Error(`nbexplain: heatmap must be 2-D (H×W), got shape [${dec.shape.join(", ")}]`);
  }
  if (dec.dtype === "uint8") {
    throw new Error("nbexplain: heatmap values must be float32 or float16");
  }
  const [h, w] = dec.shape;
  let maskArr: Uint8Array | null = null;
  if (meta.masked === true && byteLengthOf(mask) > 0) {
    maskArr = decodeArray({ dtype: "uint8", shape: [h, w] }, mask).data as Uint8Array;
  }
  return { values: dec.data as Float32Array, mask: maskArr, h, w, signed: meta.signed === true };
}

export function render({ model, el }: Pick<RenderProps<WidgetTraits>, "model" | "el">): () => void {
  const m = model as Model;
  const doc = el.ownerDocument ?? document;
  injectStyles(el);

  const heatMeta0 = asRecord(m.get("heatmap_meta"));
  const tracker = trackerFor(m, typeof heatMeta0.request_id === "number" ? heatMeta0.request_id : 0);

  // ---- DOM ------------------------------------------------------------------
  const root = doc.createElement("div");
  root.className = "nbx-root";
  const main = doc.createElement("div");
  main.className = "nbx-main";
  const caption = doc.createElement("div");
  caption.className = "nbx-caption";
  const view = new HeatmapView(doc);
  view.el.prepend(caption);

  const status = new StatusLine(doc);
  let mapsReceived = 0;
  let shownId = -Infinity; // request id of the map on screen
  let localError = "";
  let lastDelta: number | undefined;
  let shownTarget: number | null = null;
  let shownMethod = "";

  const classes = new ClassList({
    model: m,
    tracker,
    doc,
    onRequest: () => {
      localError = "";
      status.setError(""); // a new request supersedes the last error
      setStatus("computing");
    },
  });
  // One control per display-only trait: sets the view from the trait now, then on
  // every kernel change or user input (saved to the trait), and redraws.
  const controls = new ControlBar(DISPLAY_CONTROLS, { model: m, doc, target: view, afterChange: () => safeDraw() });

  main.append(view.el, classes.el);
  root.append(main, controls.el, status.el);
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

  function updateCaption(): void {
    const parts: string[] = [];
    if (shownMethod) parts.push(shownMethod);
    if (shownTarget !== null) {
      const c = sanitizeTopClasses(m.get("top_classes")).find((x) => x.index === shownTarget);
      parts.push(c ? `${c.label} (class ${shownTarget})` : `class ${shownTarget}`);
    }
    if (typeof lastDelta === "number" && Number.isFinite(lastDelta)) parts.push(`Δ = ${formatValue(lastDelta)}`);
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

  function markDrawn(bytes: BytesLike | null | undefined): void {
    mapsReceived += 1;
    root.setAttribute("data-maps-received", String(mapsReceived));
    root.setAttribute("data-map-checksum", checksum(bytes));
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
      const { h, w, c } = imageDims(meta.shape as number[]);
      const dec = decodeArray({ dtype: (meta.dtype as string) ?? "uint8", shape: [h, w, c] }, bytes);
      if (dec.dtype !== "uint8") throw new Error("nbexplain: image must be uint8");
      view.setImage({ rgba: imageToRGBA(dec.data as Uint8Array, h, w, c), h, w });
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
    // that request's exact map is already on screen (the traits hold a compressed copy).
    if (!initial && rid !== null && rid <= shownId) return;
    const show = (map: HeatmapData): void => {
      if (disposed || ticket !== mapTicket) return;
      if (rid !== null && (initial ? rid < shownId : rid <= shownId)) return; // a message got there first
      view.setMap(map);
      view.setMessage("");
      if (rid !== null) {
        shownId = Math.max(shownId === -Infinity ? rid : shownId, rid);
        tracker.observe(rid);
      }
      setShownTarget(typeof meta.target === "number" ? meta.target : m.get("target"));
      if (typeof meta.method === "string") shownMethod = meta.method;
      lastDelta = undefined;
      markDrawn(bytes);
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

  function onAttribution(msg: AttributionMessage, buffers: DataView[]): void {
    if (!tracker.accepts(msg.id)) {
      const n = Number(root.getAttribute("data-stale-ignored") ?? "0") + 1;
      root.setAttribute("data-stale-ignored", String(n));
      return;
    }
    tracker.observe(msg.id);
    const values = buffers && buffers.length > 0 ? buffers[0] : null;
    const mask = buffers && buffers.length > 1 ? buffers[1] : null;
    let map: HeatmapData;
    try {
      map = decodeMap(asRecord(msg.meta), values, mask);
    } catch (e) {
      localError = `Could not display the result: ${errorText(e)}`;
      status.setError(localError);
      setStatus("idle");
      return;
    }
    view.setMap(map);
    view.setMessage("");
    mapTicket += 1; // a trait decode still under way is older than this map
    shownId = msg.id;
    setShownTarget(msg.target);
    classes.setSelected(msg.target);
    if (typeof msg.method === "string") shownMethod = msg.method;
    lastDelta = typeof msg.delta === "number" ? msg.delta : undefined;
    markDrawn(values);
    updateCaption();
    safeDraw();
    if (msg.final) setStatus("idle");
    else setStatus("computing", "(partial result)");
  }

  // ---- listeners ------------------------------------------------------------
  const subs: Array<[string, (...args: any[]) => void]> = [];
  function on(event: string, fn: (...args: any[]) => void): void {
    m.on(event, fn);
    subs.push([event, fn]);
  }

  // Several heatmap traits usually change together; draw once per batch.
  let traitDrawPending = false;
  let disposed = false;
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
    updateCaption();
  });
  on("change:target", () => {
    setShownTarget(m.get("target"));
    classes.setSelected(m.get("target"));
    updateCaption();
  });
  on("change:status", () => setStatus(m.get("status")));
  on("change:error", () => {
    localError = "";
    status.setError(m.get("error"));
  });
  on("change:warning", () => status.setWarning(m.get("warning")));

  on("msg:custom", (msg: unknown, buffers: DataView[]) => {
    const k = asRecord(msg) as Partial<KernelMessage> & Record<string, unknown>;
    try {
      if (k.kind === "attribution") {
        onAttribution(k as AttributionMessage, buffers ?? []);
      } else if (k.kind === "progress") {
        if (!tracker.accepts(k.id)) return;
        const done = Number(k.done);
        const total = Number(k.total);
        setStatus("computing", Number.isFinite(done) && Number.isFinite(total) && total > 0 ? `${done}/${total}` : "");
      } else if (k.kind === "error" || (k.kind === undefined && typeof k.error === "string")) {
        if (!tracker.accepts(k.id)) return;
        localError = typeof k.error === "string" ? k.error : "unknown error";
        status.setError(localError);
        setStatus("idle");
        if (shownTarget !== null) classes.setSelected(shownTarget);
      }
    } catch (e) {
      console.error("nbexplain: failed to handle a kernel message", e);
    }
  });

  // ---- initial state --------------------------------------------------------
  root.setAttribute("data-maps-received", "0");
  root.setAttribute("data-map-checksum", "");
  setStatus(m.get("status"));
  setShownTarget(m.get("target"));
  status.setError(m.get("error"));
  status.setWarning(m.get("warning"));
  classes.setClasses(m.get("top_classes"));
  classes.setSelected(m.get("target"));
  loadImage();
  loadHeatmapFromTraits(true);
  updateCaption();
  safeDraw();

  return () => {
    disposed = true;
    for (const [event, fn] of subs) m.off(event, fn);
    subs.length = 0;
    classes.destroy();
    controls.destroy();
    root.remove();
  };
}

export default { render } satisfies AnyWidget<WidgetTraits>;
