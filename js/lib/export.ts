/**
 * Figures out of the browser: the composed view as a PNG (the heatmap canvas with its caption
 * and classes drawn as text under it) and a chart as an SVG file. The composition and the
 * serialisation are pure enough to test; the download is one anchor click.
 */

/** Lines of text under the picture: the caption, then one line per class (text only). */
export function captionLines(caption: string, classes: readonly { label: string; prob: number | null }[]): string[] {
  const lines = caption ? [caption] : [];
  for (const c of classes.slice(0, 5)) {
    lines.push(c.prob === null || !Number.isFinite(c.prob) ? c.label : `${c.label}  ${(c.prob * 100).toFixed(1)}%`);
  }
  return lines;
}

/** An SVG element as a standalone file (namespaced, with an XML declaration). */
export function svgFile(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  if (!clone.getAttribute("width")) {
    const box = svg.getBoundingClientRect();
    if (box.width > 0) clone.setAttribute("width", String(Math.round(box.width)));
    if (box.height > 0) clone.setAttribute("height", String(Math.round(box.height)));
  }
  const text = new XMLSerializer().serializeToString(clone);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${text}`;
}

/** The heatmap canvas and the caption lines on one canvas (white background). */
export function composePng(doc: Document, canvas: HTMLCanvasElement, lines: readonly string[]): HTMLCanvasElement {
  const lineH = 16;
  const out = doc.createElement("canvas");
  out.width = Math.max(canvas.width, 240);
  out.height = canvas.height + 8 + lines.length * lineH + 4;
  const ctx = out.getContext("2d");
  if (!ctx) return canvas;
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(canvas, 0, 0);
  ctx.fillStyle = "#222222";
  ctx.font = "12px sans-serif";
  lines.forEach((line, i) => ctx.fillText(line, 4, canvas.height + 8 + (i + 1) * lineH - 4));
  return out;
}

/** Save a blob under ``name`` (an anchor with ``download``; the URL is revoked after). */
export function download(doc: Document, blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = doc.createElement("a");
  a.href = url;
  a.download = name;
  a.className = "nbx-hidden";
  doc.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A button that exports (text only). */
export function exportButton(doc: Document, className: string, label: string, onClick: () => void): HTMLButtonElement {
  const b = doc.createElement("button");
  b.type = "button";
  b.className = `nbx-export ${className}`;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}
