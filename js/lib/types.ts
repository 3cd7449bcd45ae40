/**
 * The widget protocol shared with `nbexplain/widgets/` (see docs/ARCHITECTURE.md).
 *
 * Trait names are snake_case and identical to the Python trait declarations.
 * The display-only traits (opacity, colormap, ...) are declared once, with their
 * controls, in `ui/display-controls.ts`; their types come from there.
 */
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

export type ColormapName = "auto" | "inferno" | "viridis" | "rdbu";
export type ConcreteColormap = Exclude<ColormapName, "auto">;
export const COLORMAP_NAMES: readonly ColormapName[] = ["auto", "inferno", "viridis", "rdbu"];

export type Status = "idle" | "computing";

/** Synced traits other than the display-only ones, as the front end reads them (Bytes traits may be missing or empty). */
export interface CoreTraits {
  image: BytesLike | null;
  image_meta: ImageMeta | Record<string, never>;
  heatmap: BytesLike | null;
  heatmap_meta: HeatmapMeta | Record<string, never>;
  heatmap_mask: BytesLike | null;
  top_classes: TopClass[];
  target: number;
  method: string;
  status: Status;
  error: string;
  warning: string;
}

/** Every synced trait: the core ones and one per display-only control. */
export interface WidgetTraits extends CoreTraits, DisplayTraits {}

export type TraitName = keyof WidgetTraits;

/** The core trait names (the display-only ones are `DISPLAY_CONTROLS[i].trait`). */
export const CORE_TRAIT_NAMES: readonly (keyof CoreTraits)[] = [
  "image",
  "image_meta",
  "heatmap",
  "heatmap_meta",
  "heatmap_mask",
  "top_classes",
  "target",
  "method",
  "status",
  "error",
  "warning",
];

// ---------------------------------------------------------------------------
// Custom messages
// ---------------------------------------------------------------------------

/** Browser → kernel. */
export interface AttributeRequest {
  kind: "attribute";
  id: number;
  target: number;
  method: string;
}

/** Kernel → browser: a (partial or final) map. buffers: [values, (mask if meta.masked)]. */
export interface AttributionMessage {
  kind: "attribution";
  id: number;
  target: number;
  method: string;
  meta: ArrayMeta & { masked: boolean; signed: boolean };
  final: boolean;
  delta?: number;
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

export type KernelMessage = AttributionMessage | ProgressMessage | ErrorMessage;
export type BrowserMessage = AttributeRequest;
