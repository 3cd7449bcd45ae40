/**
 * The thumbnail strip's picture (`thumbnails`): the batch's examples side by side, each
 * `thumb`×`thumb` px (wrapping onto further rows if the picture is narrower than n thumbs).
 * Pure cropping math.
 */

export interface ThumbsMeta {
  n: number;
  thumb: number;
  encoding: string;
  labels: string[];
}

/** A well-formed `thumbnails_meta` (labels always strings, one per example). */
export function sanitizeThumbsMeta(value: unknown): ThumbsMeta {
  const r = value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  const n = typeof r.n === "number" && Number.isInteger(r.n) && r.n > 0 ? r.n : 0;
  const thumb = typeof r.thumb === "number" && r.thumb > 0 ? Math.floor(r.thumb) : 0;
  const raw = Array.isArray(r.labels) ? r.labels : [];
  const labels: string[] = [];
  for (let i = 0; i < n; i++) labels.push(raw[i] === undefined || raw[i] === null ? String(i) : String(raw[i]));
  return { n, thumb, encoding: typeof r.encoding === "string" ? r.encoding : "png", labels };
}

/** Where example `i` is in a picture `picW` px wide. */
export function thumbRect(i: number, thumb: number, picW: number): { x: number; y: number; w: number; h: number } {
  const cols = Math.max(1, Math.floor(picW / thumb));
  return { x: (i % cols) * thumb, y: Math.floor(i / cols) * thumb, w: thumb, h: thumb };
}

/** The RGBA of a rectangle of an RGBA picture (parts outside the picture are transparent). */
export function cropRGBA(
  rgba: Uint8ClampedArray,
  picW: number,
  picH: number,
  rect: { x: number; y: number; w: number; h: number },
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(rect.w * rect.h * 4);
  for (let y = 0; y < rect.h; y++) {
    const sy = rect.y + y;
    if (sy < 0 || sy >= picH) continue;
    for (let x = 0; x < rect.w; x++) {
      const sx = rect.x + x;
      if (sx < 0 || sx >= picW) continue;
      const s = (sy * picW + sx) * 4;
      const o = (y * rect.w + x) * 4;
      out[o] = rgba[s];
      out[o + 1] = rgba[s + 1];
      out[o + 2] = rgba[s + 2];
      out[o + 3] = rgba[s + 3];
    }
  }
  return out;
}
