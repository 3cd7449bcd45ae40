import { describe, expect, it } from "vitest";
import { asBytes, checksum, decodeArray, halfToFloat } from "./codec";

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function f16Bytes(bits: number[]): Uint8Array {
  const out = new Uint8Array(bits.length * 2);
  bits.forEach((b, i) => {
    out[2 * i] = b & 0xff; // little-endian
    out[2 * i + 1] = b >> 8;
  });
  return out;
}

/** Embed `payload` at `offset` inside a bigger buffer filled with junk bytes. */
function embedded(payload: Uint8Array, offset: number): ArrayBuffer {
  const big = new Uint8Array(offset + payload.length + 13).fill(0xab);
  big.set(payload, offset);
  return big.buffer;
}

describe("decodeArray float32", () => {
  const values = [1.5, -2.25, 0, 3e-5, 1e10, -7];

  it("decodes an ArrayBuffer", () => {
    const out = decodeArray({ dtype: "float32", shape: [2, 3] }, f32Bytes(values).buffer as ArrayBuffer);
    expect(out.shape).toEqual([2, 3]);
    expect(out.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.data)).toEqual(Array.from(new Float32Array(values)));
  });

  it("respects a non-zero aligned byteOffset of a DataView", () => {
    const dv = new DataView(embedded(f32Bytes(values), 8), 8, 24);
    const out = decodeArray({ dtype: "float32", shape: [2, 3] }, dv);
    expect(Array.from(out.data)).toEqual(Array.from(new Float32Array(values)));
  });

  it("copies when the byteOffset is not 4-aligned", () => {
    for (const offset of [1, 2, 3, 5]) {
      const dv = new DataView(embedded(f32Bytes(values), offset), offset, 24);
      const out = decodeArray({ dtype: "float32", shape: [6] }, dv);
      expect(Array.from(out.data)).toEqual(Array.from(new Float32Array(values)));
      expect(out.data.byteOffset % 4).toBe(0);
    }
  });

  it("accepts a Uint8Array view into a larger buffer", () => {
    const u8 = new Uint8Array(embedded(f32Bytes(values), 7), 7, 24);
    const out = decodeArray({ dtype: "float32", shape: [3, 2] }, u8);
    expect(Array.from(out.data)).toEqual(Array.from(new Float32Array(values)));
  });

  it("does not read past byteLength (junk after the view is ignored)", () => {
    const dv = new DataView(embedded(f32Bytes([42]), 4), 4, 4);
    expect(Array.from(decodeArray({ dtype: "float32", shape: [1, 1] }, dv).data)).toEqual([42]);
  });
});

describe("decodeArray float16", () => {
  it("decodes known bit patterns", () => {
    const bits = [0x3c00, 0xc000, 0x7c00, 0xfc00, 0x0001, 0x0000, 0x8000, 0x3555, 0x7bff, 0x0400, 0x03ff];
    const out = decodeArray({ dtype: "float16", shape: [bits.length] }, f16Bytes(bits));
    const d = Array.from(out.data);
    expect(out.data).toBeInstanceOf(Float32Array);
    expect(d[0]).toBe(1);
    expect(d[1]).toBe(-2);
    expect(d[2]).toBe(Infinity);
    expect(d[3]).toBe(-Infinity);
    expect(d[4]).toBeCloseTo(5.96e-8, 10);
    expect(d[4]).toBe(Math.fround(2 ** -24));
    expect(d[5]).toBe(0);
    expect(Object.is(d[6], -0)).toBe(true);
    expect(d[7]).toBeCloseTo(0.33325195, 7);
    expect(d[8]).toBe(65504); // largest finite half
    expect(d[9]).toBe(Math.fround(2 ** -14)); // smallest normal
    expect(d[10]).toBe(Math.fround(1023 * 2 ** -24)); // largest subnormal
  });

  it("decodes NaN", () => {
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
    expect(Number.isNaN(halfToFloat(0xfc01))).toBe(true);
    const out = decodeArray({ dtype: "float16", shape: [1] }, f16Bytes([0x7c01]));
    expect(Number.isNaN(out.data[0])).toBe(true);
  });

  it("handles an odd byteOffset", () => {
    const dv = new DataView(embedded(f16Bytes([0x3c00, 0xc000]), 3), 3, 4);
    expect(Array.from(decodeArray({ dtype: "float16", shape: [1, 2] }, dv).data)).toEqual([1, -2]);
  });
});

describe("decodeArray uint8 and validation", () => {
  it("decodes uint8 from a DataView with an offset", () => {
    const dv = new DataView(embedded(new Uint8Array([0, 1, 254, 255, 7, 9]), 5), 5, 6);
    const out = decodeArray({ dtype: "uint8", shape: [1, 2, 3] }, dv);
    expect(out.data).toBeInstanceOf(Uint8Array);
    expect(Array.from(out.data)).toEqual([0, 1, 254, 255, 7, 9]);
  });

  it("throws a clear error when shape and length disagree", () => {
    expect(() => decodeArray({ dtype: "float32", shape: [2, 3] }, new ArrayBuffer(20))).toThrow(
      /20 bytes.*float32.*\[2, 3\].*24 bytes/,
    );
    expect(() => decodeArray({ dtype: "float16", shape: [4] }, new ArrayBuffer(4))).toThrow(/needs 8 bytes/);
    expect(() => decodeArray({ dtype: "uint8", shape: [3] }, new Uint8Array(4))).toThrow(Error);
    // A view must be measured by its byteLength, not the whole underlying buffer.
    expect(() => decodeArray({ dtype: "float32", shape: [4] }, new DataView(new ArrayBuffer(64), 0, 8))).toThrow(
      /8 bytes/,
    );
  });

  it("rejects unknown dtypes and malformed shapes", () => {
    expect(() => decodeArray({ dtype: "float64", shape: [1] }, new ArrayBuffer(8))).toThrow(/unsupported dtype/);
    expect(() => decodeArray({ dtype: "float32", shape: [-1] }, new ArrayBuffer(0))).toThrow(/shape/);
    expect(() => decodeArray({ dtype: "float32", shape: [1.5] as number[] }, new ArrayBuffer(4))).toThrow(/shape/);
    expect(() => decodeArray(null, new ArrayBuffer(0))).toThrow(/metadata/);
  });

  it("decodes empty arrays and treats null as empty", () => {
    expect(decodeArray({ dtype: "float32", shape: [0, 5] }, null).data.length).toBe(0);
    expect(asBytes(undefined).length).toBe(0);
  });
});

describe("checksum", () => {
  it("is FNV-1a 32-bit", () => {
    // Published FNV-1a 32-bit test vectors.
    expect(checksum(new Uint8Array(0))).toBe("811c9dc5");
    expect(checksum(new TextEncoder().encode("a"))).toBe("e40c292c");
    expect(checksum(new TextEncoder().encode("foobar"))).toBe("bf9cf968");
  });

  it("hashes only the bytes of the view", () => {
    const payload = new TextEncoder().encode("foobar");
    const dv = new DataView(embedded(payload, 3), 3, payload.length);
    expect(checksum(dv)).toBe("bf9cf968");
    expect(checksum(payload.buffer as ArrayBuffer)).toBe("bf9cf968");
  });

  it("changes when one byte changes", () => {
    const a = f32Bytes([1, 2, 3]);
    const b = f32Bytes([1, 2, 3.0001]);
    expect(checksum(a)).not.toBe(checksum(b));
  });
});
