/**
 * Colour maps as 256-entry RGB lookup tables, and value -> RGBA colouring.
 *
 * inferno/viridis: 33 control points taken from matplotlib's 256-entry listed
 * colormaps (at the LUT indices given), linearly interpolated; every entry is
 * within 2/255 of matplotlib's.
 * rdbu: matplotlib's "RdBu_r" (ColorBrewer RdBu, 11 classes, reversed) so that
 * negative values are blue, 0 is near-white and positive values are red.
 *
 * These built-in tables are only the fallback: the kernel sends matplotlib's own
 * tables in the `colormap_lut` trait (uint8, len(colormap_names)×256×3, in the
 * order of `colormap_names`); `resolveLut` picks from those when they are there.
 */
import type { ColormapName, ConcreteColormap } from "./types";

/** [lutIndex, r, g, b] */
type Stop = readonly [number, number, number, number];

const SEQ_INDEX = [
  0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128, 135, 143, 151, 159, 167,
  175, 183, 191, 199, 207, 215, 223, 231, 239, 247, 255,
];

// prettier-ignore
const INFERNO_RGB = [
  [0, 0, 4], [4, 3, 18], [11, 7, 36], [21, 11, 55], [33, 12, 74], [47, 10, 91], [61, 9, 101],
  [74, 12, 107], [87, 16, 110], [100, 21, 110], [113, 25, 110], [125, 30, 109], [138, 34, 106],
  [151, 39, 102], [163, 44, 97], [176, 49, 91], [188, 55, 84], [198, 61, 77], [208, 69, 69],
  [218, 78, 60], [227, 89, 51], [235, 100, 41], [241, 113, 31], [246, 126, 20], [249, 140, 10],
  [251, 155, 6], [252, 170, 15], [251, 186, 31], [249, 201, 50], [245, 217, 73], [242, 232, 101],
  [243, 245, 134], [252, 255, 164],
];

// prettier-ignore
const VIRIDIS_RGB = [
  [68, 1, 84], [71, 13, 96], [72, 24, 106], [72, 35, 116], [71, 45, 123], [69, 55, 129],
  [66, 64, 134], [62, 73, 137], [59, 82, 139], [55, 91, 141], [51, 99, 141], [47, 107, 142],
  [44, 114, 142], [41, 122, 142], [38, 130, 142], [35, 137, 142], [33, 145, 140], [31, 151, 139],
  [31, 159, 136], [33, 166, 133], [39, 173, 129], [49, 181, 123], [61, 188, 116], [76, 194, 108],
  [92, 200, 99], [110, 206, 88], [129, 211, 77], [149, 216, 64], [170, 220, 50], [192, 223, 37],
  [213, 226, 26], [234, 229, 26], [253, 231, 37],
];

// ColorBrewer RdBu (11), reversed: dark blue -> near-white (247,247,247) -> dark red.
const RDBU_HEX = [
  "053061", "2166ac", "4393c3", "92c5de", "d1e5f0", "f7f7f7",
  "fddbc7", "f4a582", "d6604d", "b2182b", "67001f",
];

function seqStops(rgb: number[][]): Stop[] {
  return rgb.map((c, i) => [SEQ_INDEX[i], c[0], c[1], c[2]] as const);
}

function hexStops(hex: string[]): Stop[] {
  return hex.map((h, i) => {
    const v = parseInt(h, 16);
    return [(i * 255) / (hex.length - 1), (v >> 16) & 255, (v >> 8) & 255, v & 255] as const;
  });
}

/** Linearly interpolate control points into a 256×3 Uint8Array LUT. */
export function buildLut(stops: readonly Stop[]): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  let s = 0;
  for (let i = 0; i < 256; i++) {
    while (s < stops.length - 2 && i > stops[s + 1][0]) s++;
    const a = stops[s];
    const b = stops[s + 1];
    const span = b[0] - a[0];
    const f = span > 0 ? Math.min(1, Math.max(0, (i - a[0]) / span)) : 0;
    for (let k = 1; k <= 3; k++) lut[i * 3 + k - 1] = Math.round(a[k] + (b[k] - a[k]) * f);
  }
  return lut;
}

export const DIVERGING: ReadonlySet<ConcreteColormap> = new Set<ConcreteColormap>(["rdbu"]);

const LUTS: Record<ConcreteColormap, Uint8Array> = {
  inferno: buildLut(seqStops(INFERNO_RGB)),
  viridis: buildLut(seqStops(VIRIDIS_RGB)),
  rdbu: buildLut(hexStops(RDBU_HEX)),
};

/** `"auto"` (or anything unknown) -> rdbu for signed maps, inferno otherwise. */
export function resolveColormap(name: ColormapName | string | null | undefined, signed: boolean): ConcreteColormap {
  if (name === "inferno" || name === "viridis" || name === "rdbu") return name;
  return signed ? "rdbu" : "inferno";
}

/** The 256×3 RGB table of a colour map (unknown names fall back to inferno). */
export function getLut(name: ColormapName | string): Uint8Array {
  return LUTS[resolveColormap(name, false)];
}

/** RGB of the LUT entry `i` (0..255). */
export function lutColor(name: ColormapName | string, i: number): [number, number, number] {
  const lut = getLut(name);
  const j = Math.max(0, Math.min(255, Math.round(i))) * 3;
  return [lut[j], lut[j + 1], lut[j + 2]];
}

/** CSS linear-gradient for a colour bar (left = vmin, right = vmax). */
export function cssGradient(name: ColormapName | string, nStops = 17): string {
  return cssGradientOf(getLut(name), nStops);
}

export interface ColorizeOptions {
  /** A built-in table by name (ignored when `lut` is given). */
  cmap?: ColormapName | string;
  /** A 256×3 RGB table (e.g. one of the kernel's matplotlib tables). */
  lut?: Uint8Array;
  /** With `lut`: whether it is diverging (for `alphaByMagnitude`). Default: by name of `cmap`. */
  diverging?: boolean;
  vmin: number;
  vmax: number;
  /**
   * Alpha follows the normalised magnitude: distance from the centre for a
   * diverging map, distance from vmin for a sequential one. Default: opaque.
   */
  alphaByMagnitude?: boolean;
}

/**
 * Map values to RGBA (4 bytes per value). Masked (mask != 0) and non-finite
 * values are fully transparent. Values are clipped to [vmin, vmax]; index
 * `floor(t * 256)` (clamped to 255) as in matplotlib.
 */
export function colorize(
  values: ArrayLike<number>,
  mask: Uint8Array | null | undefined,
  opts: ColorizeOptions,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const n = values.length;
  const rgba = out && out.length === n * 4 ? out : new Uint8ClampedArray(n * 4);
  let lut: Uint8Array;
  let diverging: boolean;
  if (opts.lut && opts.lut.length >= 768) {
    lut = opts.lut;
    diverging = opts.diverging ?? isDivergingName(opts.cmap ?? "");
  } else {
    const cmap = resolveColormap(opts.cmap, false);
    lut = LUTS[cmap];
    diverging = opts.diverging ?? DIVERGING.has(cmap);
  }
  let vmin = Number.isFinite(opts.vmin) ? opts.vmin : 0;
  let vmax = Number.isFinite(opts.vmax) ? opts.vmax : 1;
  if (!(vmax > vmin)) {
    // Degenerate range: centre it on vmin so that value == vmin maps to the middle.
    vmin -= 0.5;
    vmax = vmin + 1;
  }
  const scale = 1 / (vmax - vmin);
  const useMask = mask != null && mask.length === n;
  const byMag = opts.alphaByMagnitude === true;
  for (let i = 0, o = 0; i < n; i++, o += 4) {
    const v = values[i];
    if ((useMask && mask[i] !== 0) || !Number.isFinite(v)) {
      rgba[o] = 0;
      rgba[o + 1] = 0;
      rgba[o + 2] = 0;
      rgba[o + 3] = 0;
      continue;
    }
    let t = (v - vmin) * scale;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const idx = t >= 1 ? 255 : Math.floor(t * 256);
    const j = idx * 3;
    rgba[o] = lut[j];
    rgba[o + 1] = lut[j + 1];
    rgba[o + 2] = lut[j + 2];
    if (byMag) {
      const a = diverging ? Math.abs(t - 0.5) * 2 : t;
      rgba[o + 3] = Math.round(a * 255);
    } else {
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

// ---------------------------------------------------------------------------
// The kernel's tables (`colormap_names` + `colormap_lut`)
// ---------------------------------------------------------------------------

/** The kernel's colour tables: `names[i]` is `bytes[i*768 .. (i+1)*768)`. */
export interface LutSource {
  names: readonly string[];
  bytes: Uint8Array;
}

/** A colour map ready to use: its name, its 256×3 table, and whether it is diverging. */
export interface ResolvedLut {
  name: string;
  lut: Uint8Array;
  diverging: boolean;
}

/** The default maps of `colormap = "auto"`: diverging for signed maps (symmetric range), sequential otherwise. */
export const AUTO_SIGNED = "RdBu_r";
export const AUTO_UNSIGNED = "inferno";

// matplotlib's diverging maps (lower case, without "_r").
const DIVERGING_NAMES = new Set([
  "rdbu", "bwr", "coolwarm", "seismic", "piyg", "prgn", "brbg", "puor", "rdgy", "rdylbu", "rdylgn",
  "spectral", "berlin", "managua", "vanimo", "icefire", "vlag",
]);

/** Whether a colour-map name is a diverging map (matplotlib's names, "_r" or not; the built-in "rdbu"). */
export function isDivergingName(name: string): boolean {
  return DIVERGING_NAMES.has(name.toLowerCase().replace(/_r$/, ""));
}

/** A usable LutSource from the traits, or null (empty / malformed: the built-in tables are used). */
export function lutSource(names: unknown, bytes: Uint8Array | null): LutSource | null {
  if (!Array.isArray(names) || names.length === 0 || !bytes) return null;
  if (!names.every((n) => typeof n === "string")) return null;
  if (bytes.length !== names.length * 768) return null;
  return { names: names as string[], bytes };
}

/** The 256×3 table of `name` in `source` (a view, no copy), or null. */
export function lutOf(source: LutSource | null, name: string): Uint8Array | null {
  if (!source) return null;
  const i = source.names.indexOf(name);
  return i < 0 ? null : source.bytes.subarray(i * 768, (i + 1) * 768);
}

/**
 * The colour map to draw with: `setting` is the `colormap` trait ("auto" or a name).
 * "auto" (or a name the kernel does not offer) = `RdBu_r` for signed maps, `inferno`
 * otherwise. Tables come from `source`; without it (or without that name in it) from the
 * built-in ones (`RdBu_r` = the built-in "rdbu").
 */
export function resolveLut(setting: string, signed: boolean, source: LutSource | null): ResolvedLut {
  const auto = signed ? AUTO_SIGNED : AUTO_UNSIGNED;
  let name = setting;
  if (source) {
    if (name === "auto" || !source.names.includes(name)) name = auto;
    const lut = lutOf(source, name);
    if (lut) return { name, lut, diverging: isDivergingName(name) };
  }
  // built-in tables
  const builtin: ConcreteColormap =
    name === "inferno" || name === "viridis" || name === "rdbu"
      ? name
      : name === AUTO_SIGNED
        ? "rdbu"
        : resolveColormap("auto", signed);
  const shown = builtin === "rdbu" ? AUTO_SIGNED : builtin;
  return { name: shown, lut: LUTS[builtin], diverging: DIVERGING.has(builtin) };
}

/** A sequential map for a non-negative quantity (uncertainty): the setting if it is sequential, else inferno. */
export function resolveSequentialLut(setting: string, source: LutSource | null): ResolvedLut {
  const seq = setting !== "auto" && !isDivergingName(setting) ? setting : AUTO_UNSIGNED;
  const r = resolveLut(seq, false, source);
  return r.diverging ? resolveLut(AUTO_UNSIGNED, false, source) : r;
}

/** CSS linear-gradient of a 256×3 table (left = vmin, right = vmax). */
export function cssGradientOf(lut: Uint8Array, nStops = 17): string {
  const parts: string[] = [];
  for (let s = 0; s < nStops; s++) {
    const t = s / (nStops - 1);
    const j = Math.max(0, Math.min(255, Math.round(t * 255))) * 3;
    parts.push(`rgb(${lut[j]}, ${lut[j + 1]}, ${lut[j + 2]}) ${(t * 100).toFixed(2)}%`);
  }
  return `linear-gradient(to right, ${parts.join(", ")})`;
}
