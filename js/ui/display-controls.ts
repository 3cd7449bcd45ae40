/**
 * The display-only controls: one entry each, bound to the synced trait of the
 * same name. Display-only = the browser redraws from data it already has; no
 * kernel round trip (the trait is still saved, so a reload keeps the value and
 * Python can read or set it).
 *
 * To add one (two files):
 *
 * 1. Python, `nbexplain/widgets/explainer.py`, class `Explainer`: one trait line,
 *        clip = t.Float(99.5, min=90.0, max=100.0).tag(sync=True)
 * 2. Here: one entry in DISPLAY_CONTROLS,
 *        range({ trait: "clip", label: "Clip", min: 90, max: 100, step: 0.1, default: 99.5,
 *                format: (v) => `${v}th pct`, apply: (view, v) => view.setClip(v) }),
 *
 * The entry gives the element (`range`: slider; `select`: menu; `toggle`:
 * checkbox), its class (`nbx-<trait>`), its initial value from the model, saving
 * user input (`model.set` + `save_changes`), following the kernel's changes,
 * cleanup, and the trait's TypeScript type (`WidgetTraits` in lib/types.ts is
 * derived from this list). `apply` hands the value to the view; the widget redraws
 * after it. `apply` can only call what HeatmapView offers: a display that needs new
 * drawing also changes the view.
 */
import { COLORMAP_NAMES, type ColormapName } from "../lib/types";
import { controlKit, type TraitsOf } from "./bound-controls";
import type { HeatmapView } from "./heatmap";

const { range, select } = controlKit<HeatmapView>();

const COLORMAP_LABELS: Record<ColormapName, string> = {
  auto: "auto",
  inferno: "inferno",
  viridis: "viridis",
  rdbu: "RdBu (diverging)",
};

export const DISPLAY_CONTROLS = [
  range({
    trait: "opacity",
    label: "Opacity",
    ariaLabel: "heatmap opacity",
    min: 0,
    max: 1,
    step: 0.01,
    default: 0.6,   // Explainer.opacity's default
    format: (v) => `${Math.round(v * 100)}%`,
    apply: (view, v) => view.setOpacity(v),
  }),
  select({
    trait: "colormap",
    label: "Colour map",
    options: COLORMAP_NAMES.map((name) => ({ value: name, label: COLORMAP_LABELS[name] })),
    default: "auto",
    apply: (view, name) => view.setColormap(name),
  }),
] as const;

/** `{opacity: number; colormap: ColormapName; ...}`, one key per entry above. */
export type DisplayTraits = TraitsOf<typeof DISPLAY_CONTROLS>;
