/**
 * The widget protocol shared with `nbexplain/widgets/` (protocol v2: every control is a
 * synced trait; see docs/ARCHITECTURE.md).
 *
 * Trait names are snake_case and identical to the Python trait declarations.
 * The display-only traits (opacity, colormap, clip, ...) and the compute traits with a
 * control (method, steps, baseline, ...) are declared once, with their controls, in
 * `ui/display-controls.ts` and `ui/compute-controls.ts`; their types come from there.
 */
import type { ComputeTraits } from "../ui/compute-controls";
import type { DisplayTraits } from "../ui/display-controls";

/** Element types the array serialiser knows. */
export type Dtype = "float32" | "float16" | "uint8";

/** What a Bytes trait or a message buffer can look like on arrival. */
export type BytesLike = DataView | ArrayBuffer | Uint8Array;

/** `{dtype, shape}` sent next to every binary buffer. */
export interface ArrayMeta {
  dtype: Dtype | string;
  shape: number[];
}

/** `image_meta`: the displayed input, uint8, row-major H×W×C (C = 1, 3 or 4). */
export interface ImageMeta extends ArrayMeta {
  dtype: "uint8";
}

/** `heatmap_meta`. */
export interface HeatmapMeta extends ArrayMeta {
  masked: boolean;
  signed: boolean;
  target: number;
  method: string;
  request_id: number;
}

/** One entry of `top_classes`. */
export interface TopClass {
  index: number;
  label: string;
  prob: number;
}

/** The built-in colour tables (used when the kernel sends no `colormap_lut`). */
export type ColormapName = "auto" | "inferno" | "viridis" | "rdbu";
export type ConcreteColormap = Exclude<ColormapName, "auto">;

export type Status = "idle" | "computing";

/** One entry of `method_choices`. */
export interface MethodChoiceTrait {
  name: string;
  label: string;
  options: string[];
}

/** `thumbnails_meta`. */
export interface ThumbnailsMeta {
  n: number;
  thumb: number;
  encoding: string;
  labels: string[];
}

/**
 * Synced traits without a declared control, as the front end reads them (Bytes traits may
 * be missing or empty). `target`, `index`, `paint` and `compare` are compute traits the
 * browser sets through its own UI (class list, thumbnail strip, brush, comparison ticks).
 */
export interface CoreTraits {
  image: BytesLike | null;
  image_meta: ImageMeta | Record<string, never>;
  heatmap: BytesLike | null;
  heatmap_meta: HeatmapMeta | Record<string, never>;
  heatmap_mask: BytesLike | null;
  top_classes: TopClass[];
  target: number;
  index: number;
  /** uint8 H×W of image_meta.shape[:2], 1 = painted; empty = none. */
  paint: BytesLike | null;
  compare: string[];
  method_choices: MethodChoiceTrait[];
  rule_choices: string[];
  smooth_base_choices: string[];
  layer_choices: string[];
  baseline_choices: string[];
  colormap_names: string[];
  /** uint8 len(colormap_names)×256×3. */
  colormap_lut: BytesLike | null;
  thumbnails: BytesLike | null;
  thumbnails_meta: ThumbnailsMeta | Record<string, never>;
  /** [[steps, delta], ...] */
  delta_curve: Array<[number, number]>;
  status: Status;
  error: string;
  warning: string;
}

/** Every synced trait: the core ones and one per control (display and compute). */
export interface WidgetTraits extends CoreTraits, DisplayTraits, ComputeTraits {}

export type TraitName = keyof WidgetTraits;

/** The core trait names (the others are `DISPLAY_CONTROLS[i].trait` and `COMPUTE_CONTROLS[i].trait`). */
export const CORE_TRAIT_NAMES: readonly (keyof CoreTraits)[] = [
  "image",
  "image_meta",
  "heatmap",
  "heatmap_meta",
  "heatmap_mask",
  "top_classes",
  "target",
  "index",
  "paint",
  "compare",
  "method_choices",
  "rule_choices",
  "smooth_base_choices",
  "layer_choices",
  "baseline_choices",
  "colormap_names",
  "colormap_lut",
  "thumbnails",
  "thumbnails_meta",
  "delta_curve",
  "status",
  "error",
  "warning",
];

// ---------------------------------------------------------------------------
// Custom messages
// ---------------------------------------------------------------------------

/**
 * Kernel → browser: a (partial or final) map.
 * buffers: [values float32 H×W, (mask uint8 if meta.masked), (uncertainty float32 H×W if uncertainty === true)].
 */
export interface AttributionMessage {
  kind: "attribution";
  id: number;
  target: number;
  method: string;
  index?: number;
  meta: ArrayMeta & { masked: boolean; signed: boolean };
  final: boolean;
  delta?: number;
  uncertainty?: boolean;
}

/** Kernel → browser: the IG path at α. buffers: [image uint8 H×W×C, gradient float32 H×W, accumulated float32 H×W]. */
export interface PathMessage {
  kind: "path";
  id: number;
  alpha: number;
  image_meta: ArrayMeta;
  grad_meta: ArrayMeta & { signed?: boolean };
  accum_meta: ArrayMeta & { signed?: boolean };
}

/** Kernel → browser: one compared method's map. buffers: [values, (mask if meta.masked)]. */
export interface CompareMessage {
  kind: "compare";
  id: number;
  method: string;
  meta: ArrayMeta & { masked: boolean; signed: boolean };
  final: boolean;
}

/** Kernel → browser: Spearman rank correlation of each pair of compared maps. */
export interface CorrelationsMessage {
  kind: "correlations";
  id: number;
  methods: string[];
  matrix: number[][];
}

/** Kernel → browser: progress of the job `id`. */
export interface ProgressMessage {
  kind: "progress";
  id: number;
  done: number;
  total: number;
}

/** Kernel → browser: job `id` failed. */
export interface ErrorMessage {
  kind: "error";
  id: number;
  error: string;
}

export type KernelMessage =
  | AttributionMessage
  | ProgressMessage
  | ErrorMessage
  | PathMessage
  | CompareMessage
  | CorrelationsMessage;
