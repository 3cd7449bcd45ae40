/**
 * The JavaScript half of the array serialiser (Python: nbexplain/widgets/serialize.py).
 *
 * A buffer is the raw little-endian, row-major bytes of an array described by
 * `{dtype, shape}`. Buffers may be views into a larger ArrayBuffer, so every
 * function here respects `byteOffset` / `byteLength`.
 */
import type { ArrayMeta, BytesLike } from "./types";

export interface DecodedArray {
  data: Float32Array | Uint8Array;
  shape: number[];
  dtype: "float32" | "float16" | "uint8";
}

const ITEMSIZE = { float32: 4, float16: 2, uint8: 1 } as const;
type KnownDtype = keyof typeof ITEMSIZE;

const DTYPE_ALIASES: Record<string, KnownDtype> = {
  float32: "float32",
  f4: "float32",
  "<f4": "float32",
  float16: "float16",
  f2: "float16",
  "<f2": "float16",
  uint8: "uint8",
  u1: "uint8",
  "|u1": "uint8",
};

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A Uint8Array over exactly the bytes of `buf` (no copy).
 * `null`/`undefined` give an empty array.
 */
export function asBytes(buf: BytesLike | ArrayBufferView | null | undefined): Uint8Array {
  if (buf == null) return new Uint8Array(0);
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  // Cross-realm ArrayBuffer (e.g. from an iframe) or a SharedArrayBuffer.
  const maybe = buf as unknown as { byteLength?: unknown };
  if (typeof maybe.byteLength === "number") return new Uint8Array(buf as ArrayBuffer);
  throw new TypeError("nbexplain: expected a DataView, ArrayBuffer or Uint8Array");
}

/** Number of bytes of a bytes-like value; 0 for null/undefined/unknown values. */
export function byteLengthOf(buf: unknown): number {
  if (buf == null || typeof buf !== "object") return 0;
  const n = (buf as { byteLength?: unknown }).byteLength;
  return typeof n === "number" ? n : 0;
}

function normaliseDtype(dtype: unknown): KnownDtype {
  const key = typeof dtype === "string" ? dtype.trim().toLowerCase() : "";
  const known = DTYPE_ALIASES[key];
  if (!known) {
    throw new Error(
      `nbexplain: unsupported dtype ${JSON.stringify(dtype)} (expected float32, float16 or uint8)`,
    );
  }
  return known;
}

function checkShape(shape: unknown): number[] {
  if (!Array.isArray(shape)) {
    throw new Error(`nbexplain: array shape must be a list of integers, got ${JSON.stringify(shape)}`);
  }
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isInteger(d) || d < 0) {
      throw new Error(`nbexplain: invalid array shape ${JSON.stringify(shape)}`);
    }
  }
  return shape.slice() as number[];
}

/** Product of the dimensions (1 for a scalar shape `[]`). */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// --- float16 ---------------------------------------------------------------

/** IEEE 754 binary16 bit pattern -> number (handles ±0, subnormals, ±inf, NaN). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x03ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero or subnormal: frac * 2^-14 / 1024
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let HALF_TABLE: Float32Array | null = null;

/** 65536-entry lookup table, built on first use (256 KiB). */
function halfTable(): Float32Array {
  if (HALF_TABLE === null) {
    const t = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) t[i] = halfToFloat(i);
    HALF_TABLE = t;
  }
  return HALF_TABLE;
}

function decodeFloat16(bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  if (n === 0) return out;
  const table = halfTable();
  for (let i = 0, j = 0; i < n; i++, j += 2) {
    out[i] = table[bytes[j] | (bytes[j + 1] << 8)];
  }
  return out;
}

function decodeFloat32(bytes: Uint8Array, n: number): Float32Array {
  if (LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) {
      // Zero-copy view over exactly this region of the underlying buffer.
      return new Float32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
    }
    // Unaligned: a typed-array view would throw, so copy the bytes first.
    const copy = new Uint8Array(n * 4);
    copy.set(bytes.subarray(0, n * 4));
    return new Float32Array(copy.buffer);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

/**
 * Decode a serialised array.
 *
 * @throws Error when the dtype is unknown, the shape is malformed, or
 *   `product(shape) * itemsize !== byteLength`.
 */
export function decodeArray(
  meta: Pick<ArrayMeta, "dtype" | "shape"> | null | undefined,
  buf: BytesLike | ArrayBufferView | null | undefined,
): DecodedArray {
  if (meta == null || typeof meta !== "object") {
    throw new Error("nbexplain: missing array metadata {dtype, shape}");
  }
  const dtype = normaliseDtype(meta.dtype);
  const shape = checkShape(meta.shape);
  const bytes = asBytes(buf);
  const n = shapeSize(shape);
  const expected = n * ITEMSIZE[dtype];
  if (bytes.byteLength !== expected) {
    throw new Error(
      `nbexplain: buffer has ${bytes.byteLength} bytes but ${dtype} with shape ` +
        `[${shape.join(", ")}] needs ${expected} bytes`,
    );
  }
  switch (dtype) {
    case "float32":
      return { data: decodeFloat32(bytes, n), shape, dtype };
    case "float16":
      return { data: decodeFloat16(bytes, n), shape, dtype };
    case "uint8":
      return { data: bytes, shape, dtype };
  }
}

// --- checksum ----------------------------------------------------------------

/** FNV-1a 32-bit hash of the bytes, as 8 lowercase hex digits. */
export function checksum(buf: BytesLike | ArrayBufferView | null | undefined): string {
  const bytes = asBytes(buf);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}
