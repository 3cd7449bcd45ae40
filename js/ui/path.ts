/**
 * The IG path scrubber's pictures (the `alpha` slider itself is a COMPUTE_CONTROLS entry):
 * three small canvases drawn from the latest `path` message,
 *
 *   canvas.nbx-path-input   the interpolated input at α (uint8 H×W×C)
 *   canvas.nbx-path-grad    the gradient there (float32 H×W, as a heatmap)
 *   canvas.nbx-path-accum   the attribution accumulated from 0 to α (float32 H×W)
 *
 * The two maps use the current colour map and clip (display settings).
 */
import type { LutSource } from "../lib/colormap";
import { renderMap, type MapData } from "../lib/display";
import { formatValue } from "../lib/format";
import { putRGBA } from "./canvas";
import type { DisplaySettings, ImageRaster } from "./heatmap";

export interface PathData {
  id: number;
  alpha: number;
  image: ImageRaster;
  grad: MapData;
  accum: MapData;
}

const PATH_SIZE = 96;

export class PathView {
  readonly el: HTMLDivElement;
  readonly input: HTMLCanvasElement;
  readonly grad: HTMLCanvasElement;
  readonly accum: HTMLCanvasElement;
  private readonly note: HTMLDivElement;
  private data: PathData | null = null;

  constructor(doc: Document = document) {
    this.el = doc.createElement("div");
    this.el.className = "nbx-path";
    const grid = doc.createElement("div");
    grid.className = "nbx-path-views";
    const cell = (cls: string, caption: string): HTMLCanvasElement => {
      const fig = doc.createElement("div");
      fig.className = "nbx-path-cell";
      const c = doc.createElement("canvas");
      c.className = cls;
      c.setAttribute("role", "img");
      c.setAttribute("aria-label", caption);
      const cap = doc.createElement("div");
      cap.className = "nbx-path-caption";
      cap.textContent = caption;
      fig.append(c, cap);
      grid.append(fig);
      return c;
    };
    this.input = cell("nbx-path-input", "input at α");
    this.grad = cell("nbx-path-grad", "gradient at α");
    this.accum = cell("nbx-path-accum", "accumulated 0→α");
    this.note = doc.createElement("div");
    this.note.className = "nbx-path-note";
    this.note.textContent = "Move α to see the path.";
    this.el.append(grid, this.note);
  }

  setPath(data: PathData | null): void {
    this.data = data;
  }

  getPath(): PathData | null {
    return this.data;
  }

  draw(settings: DisplaySettings, luts: LutSource | null): void {
    const d = this.data;
    this.el.dataset.alpha = d ? String(d.alpha) : "";
    this.note.classList.toggle("nbx-hidden", d !== null);
    for (const c of [this.input, this.grad, this.accum]) c.classList.toggle("nbx-hidden", d === null);
    if (!d) return;
    putRGBA(this.input, d.image.rgba, d.image.w, d.image.h, PATH_SIZE);
    for (const [canvas, map] of [
      [this.grad, d.grad],
      [this.accum, d.accum],
    ] as const) {
      const r = renderMap(map, { colormap: settings.colormap, clip: settings.clip, sign: "both", topK: 100, luts });
      putRGBA(canvas, r.rgba, map.w, map.h, PATH_SIZE);
      canvas.dataset.cmap = r.cmap.name;
      canvas.title = `${formatValue(r.range.vmin)} … ${formatValue(r.range.vmax)}`;
    }
  }
}
