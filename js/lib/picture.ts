/**
 * Compressed pictures in the traits (`nbexplain/widgets/display.py`): the input image and the
 * attribution map are kept as PNG, WebP or JPEG so a saved notebook stays small. Decoding is
 * the browser's own (`createImageBitmap`, asynchronous); the level-to-value math is pure.
 */
import type { BytesLike } from "./types";

export const PICTURE_ENCODINGS = ["png", "webp", "jpeg"] as const;
export type PictureEncoding = (typeof PICTURE_ENCODINGS)[number];

export interface Picture {
  rgba: Uint8ClampedArray;
  w: number;
  h: number;
}

export function isPictureEncoding(v: unknown): v is PictureEncoding {
  return typeof v === "string" && (PICTURE_ENCODINGS as readonly string[]).includes(v);
}

function bytesOf(b: BytesLike): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

async function browserDecode(bytes: BytesLike, encoding: PictureEncoding): Promise<Picture> {
  const copy = new Uint8Array(bytesOf(bytes)); // a Blob part must own its bytes
  const blob = new Blob([copy], { type: `image/${encoding}` });
  // no colour management: the bytes are data levels, not colours to correct
  const bmp = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  try {
    const { width: w, height: h } = bmp;
    const canvas: OffscreenCanvas | HTMLCanvasElement =
      typeof OffscreenCanvas !== "undefined" ? new OffscreenCanvas(w, h) : Object.assign(document.createElement("canvas"), { width: w, height: h });
    const ctx = canvas.getContext("2d") as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
    if (!ctx) throw new Error("nbexplain: no 2D canvas to decode a picture");
    ctx.drawImage(bmp, 0, 0);
    return { rgba: ctx.getImageData(0, 0, w, h).data, w, h };
  } finally {
    bmp.close();
  }
}

/** The decoder in use: the browser's; unit tests (no image codecs in happy-dom) swap it. */
export const pictureDecoder = { decode: browserDecode };

/**
 * Values of a map stored as 256 grey levels between `lo` and `hi` (the red channel of
 * `levels`); the cells set in `mask` (the red channel of the mask picture, 1 = not finite)
 * become 0 and are returned as a 0/1 mask.
 */
export function levelsToMap(
  levels: Uint8ClampedArray,
  lo: number,
  hi: number,
  mask: Uint8ClampedArray | null,
): { values: Float32Array; mask: Uint8Array | null } {
  const n = levels.length / 4;
  if (mask && mask.length !== levels.length) {
    throw new Error(`nbexplain: the map's mask has ${mask.length / 4} cells, the map ${n}`);
  }
  const values = new Float32Array(n);
  const span = Number.isFinite(hi - lo) ? hi - lo : 0;
  const out = mask ? new Uint8Array(n) : null;
  for (let i = 0; i < n; i++) {
    if (out && mask![i * 4] !== 0) {
      out[i] = 1;
      continue;
    }
    values[i] = lo + (levels[i * 4] / 255) * span;
  }
  return { values, mask: out };
}
