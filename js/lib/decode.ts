/**
 * Decoding of a values buffer (+ optional mask) into a 2-D map: shared by the image view
 * (attribution, compare, path, the heatmap traits) and the sequence and text views.
 */
import { byteLengthOf, decodeArray } from "./codec";
import type { MapData } from "./display";
import type { BytesLike } from "./types";

/** Decode a values buffer (+ optional mask) into a 2-D map. Throws on malformed input. */
export function decodeMap(
  meta: Record<string, unknown>,
  values: BytesLike | null | undefined,
  mask: BytesLike | null | undefined,
): MapData {
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

/**
 * `meta` with its shape as 2-D: a 1-D shape `[n]` becomes `[n, 1]` (`column`) or `[1, n]`
 * (row). Other shapes are kept (decodeMap then says what is wrong).
 */
export function as2dMeta(meta: Record<string, unknown>, oneD: "column" | "row"): Record<string, unknown> {
  const shape = meta.shape;
  if (Array.isArray(shape) && shape.length === 1) {
    return { ...meta, shape: oneD === "column" ? [shape[0], 1] : [1, shape[0]] };
  }
  return meta;
}
