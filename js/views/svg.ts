/** SVG elements built with `createElementNS`; text goes in with `textContent`, never as markup. */

export const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes (numbers as strings) and optional text. */
export function svgEl<K extends keyof SVGElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Record<string, string | number | null | undefined> = {},
  text?: string,
): SVGElementTagNameMap[K] {
  const n = doc.createElementNS(SVG_NS, tag) as SVGElementTagNameMap[K];
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) n.setAttribute(k, String(v));
  if (text !== undefined) n.textContent = text;
  return n;
}

/** A `<title>` child (the tooltip), as text. */
export function svgTitle(doc: Document, text: string): SVGTitleElement {
  return svgEl(doc, "title", {}, text);
}

/** `s` cut to `max` characters with an ellipsis (the full text goes in a title). */
export function clipText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, Math.max(1, max - 1))}…` : s;
}
