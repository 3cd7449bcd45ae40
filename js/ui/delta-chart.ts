/**
 * The completeness-error chart: an inline `<svg class="nbx-delta-chart">` of |Δ|
 * (integrated gradients' completeness error) against the number of steps, from the
 * `delta_curve` trait (`[[steps, delta], ...]`). `data-points` = the number of points.
 * Text goes in with `textContent`.
 */
import { chartGeometry, sanitizeCurve, type ChartBox } from "../lib/chart";
import { formatValue } from "../lib/format";

const SVG = "http://www.w3.org/2000/svg";
const BOX: ChartBox = { width: 260, height: 110, pad: { left: 44, right: 8, top: 8, bottom: 22 } };

export class DeltaChart {
  readonly el: HTMLDivElement;
  readonly svg: SVGSVGElement;
  private readonly doc: Document;

  constructor(doc: Document = document) {
    this.doc = doc;
    this.el = doc.createElement("div");
    this.el.className = "nbx-delta";
    const title = doc.createElement("div");
    title.className = "nbx-delta-title";
    title.textContent = "Completeness error |Δ| vs steps";
    this.svg = doc.createElementNS(SVG, "svg") as SVGSVGElement;
    this.svg.setAttribute("class", "nbx-delta-chart");
    this.svg.setAttribute("viewBox", `0 0 ${BOX.width} ${BOX.height}`);
    this.svg.setAttribute("width", String(BOX.width));
    this.svg.setAttribute("height", String(BOX.height));
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", "completeness error against the number of steps");
    this.el.append(title, this.svg);
    this.setCurve([]);
  }

  private node<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
    const n = this.doc.createElementNS(SVG, tag) as SVGElementTagNameMap[K];
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  /** Redraw from a `delta_curve` value. */
  setCurve(raw: unknown): void {
    const curve = sanitizeCurve(raw);
    const geo = chartGeometry(curve, BOX);
    this.svg.replaceChildren();
    this.svg.setAttribute("data-points", String(curve.length));
    const { width, height, pad } = BOX;
    const x0 = pad.left;
    const y1 = height - pad.bottom;
    this.svg.append(
      this.node("line", { class: "nbx-axis", x1: x0, y1: pad.top, x2: x0, y2: y1 }),
      this.node("line", { class: "nbx-axis", x1: x0, y1, x2: width - pad.right, y2: y1 }),
    );
    if (!geo) {
      this.svg.append(this.node("text", { class: "nbx-chart-empty", x: x0 + 8, y: pad.top + 30 }, "no estimates yet"));
      return;
    }
    this.svg.setAttribute("data-log", String(geo.log));
    this.svg.append(
      this.node("polyline", { class: "nbx-delta-line", points: geo.xy.map(([x, y]) => `${x},${y}`).join(" "), fill: "none" }),
    );
    geo.xy.forEach(([x, y], i) => {
      const dot = this.node("circle", { class: "nbx-delta-point", cx: x, cy: y, r: 2.5 });
      const [s, d] = geo.data[i];
      dot.append(this.node("title", {}, `${s} steps: |Δ| = ${formatValue(d)}`));
      this.svg.append(dot);
    });
    // axis labels: y range (log or linear), x range
    this.svg.append(
      this.node("text", { class: "nbx-chart-label", x: x0 - 4, y: pad.top + 8, "text-anchor": "end" }, formatValue(geo.yMax)),
      this.node("text", { class: "nbx-chart-label", x: x0 - 4, y: y1, "text-anchor": "end" }, formatValue(geo.yMin)),
      this.node("text", { class: "nbx-chart-label", x: x0, y: height - 6, "text-anchor": "start" }, String(geo.xMin)),
      this.node("text", { class: "nbx-chart-label", x: width - pad.right, y: height - 6, "text-anchor": "end" }, `${geo.xMax} steps`),
    );
  }
}
