/**
 * The beeswarm summary of the table view (protocol16 `summary` message): one row per
 * feature (by mean |attribution|, largest first), one `circle.nbx-dot[data-row][data-feature]`
 * per explained row, x = the attribution, colour = the feature's value normalised per
 * feature (min..max over the rows) through the colour table; the vertical spread of a row
 * is deterministic (`swarmOffsets`). Text as `textContent`.
 */
import { extent, linearScale, lutCss, lutIndex, niceTicks, normalizeColumn, orderByMeanAbs, pad, swarmOffsets } from "../lib/bars";
import { formatValue } from "../lib/format";
import { CHART_WIDTH, LABEL_CHARS, LABEL_W } from "./bar-chart";
import { clipText, svgEl, svgTitle } from "./svg";

export interface SummaryData {
  id: number;
  /** R×F attributions. */
  values: (number | null)[][];
  /** R×F feature values. */
  featureValues: (number | null)[][];
}

export const SWARM_ROW_H = 24;
const TOP = 8;
const AXIS_H = 26;
export const NAN_DOT = "#999";

/** Redraw the beeswarm; returns the number of dots drawn. */
export function drawBeeswarm(svg: SVGSVGElement, data: SummaryData, names: readonly string[], lut: Uint8Array): number {
  const doc = svg.ownerDocument;
  const f = names.length;
  const R = data.values.length;
  const order = orderByMeanAbs(data.values, f);
  const all: (number | null)[] = [];
  for (const row of data.values) all.push(...row);
  const domain = pad(extent(all, true), 0.05);
  const x0 = LABEL_W + 4;
  const x1 = CHART_WIDTH - 10;
  const x = linearScale(domain, [x0, x1]);
  const height = TOP + Math.max(1, f) * SWARM_ROW_H + AXIS_H;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${CHART_WIDTH} ${height}`);
  svg.setAttribute("width", String(CHART_WIDTH));
  svg.setAttribute("height", String(height));
  const bottom = TOP + f * SWARM_ROW_H;
  svg.append(svgEl(doc, "line", { class: "nbx-axis", x1: x0, y1: bottom + 2, x2: x1, y2: bottom + 2 }));
  for (const t of niceTicks(domain[0], domain[1], 5)) {
    svg.append(svgEl(doc, "line", { class: "nbx-tick", x1: x(t), y1: bottom + 2, x2: x(t), y2: bottom + 5 }));
    svg.append(svgEl(doc, "text", { class: "nbx-tick-label", x: x(t), y: bottom + 15, "text-anchor": "middle" }, formatValue(t)));
  }
  svg.append(svgEl(doc, "line", { class: "nbx-zero", x1: x(0), y1: TOP, x2: x(0), y2: bottom + 2 }));
  const r = R * f > 4000 ? 1.5 : R > 200 ? 2 : 3;
  let dots = 0;
  order.forEach((j, k) => {
    const name = names[j];
    const cy = TOP + k * SWARM_ROW_H + SWARM_ROW_H / 2;
    const label = svgEl(doc, "text", { class: "nbx-bar-label", x: LABEL_W - 6, y: cy + 4, "text-anchor": "end", "data-feature": name }, clipText(name, LABEL_CHARS));
    label.append(svgTitle(doc, name));
    svg.append(label);
    const col = data.values.map((row) => row[j] ?? null);
    const colour = normalizeColumn(data.featureValues.map((row) => (row ? (row[j] ?? null) : null)));
    const xs = col.map((v) => (v === null ? null : x(v)));
    const dy = swarmOffsets(xs, r * 2, r * 1.1, SWARM_ROW_H / 2 - r);
    const g = svgEl(doc, "g", { class: "nbx-swarm-row", "data-feature": name });
    xs.forEach((px, i) => {
      if (px === null) return;
      const t = colour[i];
      const dot = svgEl(doc, "circle", {
        class: t === null ? "nbx-dot nbx-dot-nan" : "nbx-dot",
        cx: px.toFixed(2),
        cy: (cy + dy[i]).toFixed(2),
        r,
        fill: t === null ? NAN_DOT : lutCss(lut, lutIndex(t)),
        "data-row": String(i),
        "data-feature": name,
        "data-value": String(col[i]),
      });
      g.append(dot);
      dots++;
    });
    svg.append(g);
  });
  svg.setAttribute("data-dots", String(dots));
  return dots;
}
