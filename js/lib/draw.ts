/**
 * Pure pixel math for the heatmap view (no canvas here, so it is unit-testable).
 */

/** uint8 H×W×C (C = 1 grey, 3 RGB, 4 RGBA), row-major -> RGBA. */
export function imageToRGBA(data: Uint8Array, h: number, w: number, c: number): Uint8ClampedArray {
  const n = h * w;
  if (c !== 1 && c !== 3 && c !== 4) {
    throw new Error(`nbexplain: image must have 1, 3 or 4 channels, got ${c}`);
  }
  if (data.length !== n * c) {
    throw new Error(`nbexplain: image has ${data.length} bytes, expected ${h}×${w}×${c} = ${n * c}`);
  }
  const out = new Uint8ClampedArray(n * 4);
  if (c === 4) {
    out.set(data);
    return out;
  }
  for (let i = 0, s = 0, o = 0; i < n; i++, s += c, o += 4) {
    if (c === 1) {
      const g = data[s];
      out[o] = g;
      out[o + 1] = g;
      out[o + 2] = g;
    } else {
      out[o] = data[s];
      out[o + 1] = data[s + 1];
      out[o + 2] = data[s + 2];
    }
    out[o + 3] = 255;
  }
  return out;
}

/** [H, W, C] from an image shape ([H, W] means C = 1). */
export function imageDims(shape: readonly number[]): { h: number; w: number; c: number } {
  if (shape.length === 2) return { h: shape[0], w: shape[1], c: 1 };
  if (shape.length === 3) return { h: shape[0], w: shape[1], c: shape[2] };
  throw new Error(`nbexplain: image shape must be [H, W] or [H, W, C], got [${shape.join(", ")}]`);
}

/**
 * Alpha-blend `heat` over `image` (both RGBA, straight alpha, same size) with
 * the heatmap's alpha scaled by `opacity` (0..1): the Porter-Duff "over"
 * operator. `image` may be null (transparent background).
 */
export function composite(
  image: Uint8ClampedArray | null,
  heat: Uint8ClampedArray | null,
  opacity: number,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const len = image ? image.length : heat ? heat.length : 0;
  if (image && heat && image.length !== heat.length) {
    throw new Error(`nbexplain: cannot blend ${heat.length / 4} heatmap pixels over ${image.length / 4} image pixels`);
  }
  const res = out && out.length === len ? out : new Uint8ClampedArray(len);
  const op = Number.isFinite(opacity) ? Math.min(1, Math.max(0, opacity)) : 1;
  if (!heat || op === 0) {
    if (image) res.set(image);
    else res.fill(0);
    return res;
  }
  for (let o = 0; o < len; o += 4) {
    const ha = (heat[o + 3] / 255) * op;
    const ia = image ? image[o + 3] / 255 : 0;
    const oa = ha + ia * (1 - ha);
    if (oa <= 0) {
      res[o] = 0;
      res[o + 1] = 0;
      res[o + 2] = 0;
      res[o + 3] = 0;
      continue;
    }
    const wi = (ia * (1 - ha)) / oa;
    const wh = ha / oa;
    for (let k = 0; k < 3; k++) {
      const iv = image ? image[o + k] : 0;
      res[o + k] = Math.round(heat[o + k] * wh + iv * wi);
    }
    res[o + 3] = Math.round(oa * 255);
  }
  return res;
}

/**
 * Resample an H×W map to h2×w2: bilinear for values (pixel-centre aligned,
 * like `align_corners=False`), nearest for the mask. Returns the input when
 * the size already matches.
 */
export function resampleMap(
  values: Float32Array,
  mask: Uint8Array | null,
  h: number,
  w: number,
  h2: number,
  w2: number,
): { values: Float32Array; mask: Uint8Array | null } {
  if (h === h2 && w === w2) return { values, mask };
  const out = new Float32Array(h2 * w2);
  const outMask = mask ? new Uint8Array(h2 * w2) : null;
  const sy = h / h2;
  const sx = w / w2;
  for (let y = 0; y < h2; y++) {
    const fy = Math.min(h - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(h - 1, y0 + 1);
    const dy = fy - y0;
    const ny = Math.min(h - 1, Math.floor((y + 0.5) * sy));
    for (let x = 0; x < w2; x++) {
      const fx = Math.min(w - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(w - 1, x0 + 1);
      const dx = fx - x0;
      const top = values[y0 * w + x0] * (1 - dx) + values[y0 * w + x1] * dx;
      const bot = values[y1 * w + x0] * (1 - dx) + values[y1 * w + x1] * dx;
      out[y * w2 + x] = top * (1 - dy) + bot * dy;
      if (mask && outMask) {
        const nx = Math.min(w - 1, Math.floor((x + 0.5) * sx));
        outMask[y * w2 + x] = mask[ny * w + nx];
      }
    }
  }
  return { values: out, mask: outMask };
}

/**
 * Display size (CSS px) for an h×w raster whose longest side should be about
 * `maxSide`. Small rasters get an integer scale so nearest-neighbour pixels
 * stay square and equal; large ones are scaled down to fit.
 */
export function fitSize(h: number, w: number, maxSide = 280): { width: number; height: number; scale: number } {
  const longest = Math.max(h, w, 1);
  let scale = maxSide / longest;
  if (scale >= 2) scale = Math.floor(scale);
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)), scale };
}
