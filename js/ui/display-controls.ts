/**
 * The display-only controls: one entry each, bound to the synced trait of the
 * same name. Display-only = the browser redraws from data it already has; no
 * kernel round trip (the trait is still saved, so a reload keeps the value and
 * Python can read or set it). The controls that recompute are in
 * `compute-controls.ts` (same pattern).
 *
 * HOW TO ADD A DISPLAY CONTROL (two files, one entry each):
 *
 * 1. Python, `nbexplain/widgets/explainer.py`, class `Explainer`: one trait line,
 *        outline = t.Bool(False).tag(sync=True)
 * 2. Here: one entry in DISPLAY_CONTROLS,
 *        toggle({ trait: "outline", label: "Outline", default: false,
 *                 apply: (view, v) => view.setOutline(v) }),
 *    (and `setOutline` in ui/heatmap.ts when the view has to draw something new).
 *
 * The entry gives the element (`range`: slider; `select`: menu, static `options`;
 * `selectFrom`: menu whose options come from a kernel-owned list trait; `toggle`:
 * checkbox), its class (`nbx-<trait>`), its initial value from the model, saving
 * user input (`model.set` + `save_changes`), following the kernel's changes,
 * cleanup, and the trait's TypeScript type (`WidgetTraits` in lib/types.ts is
 * derived from this list). `apply` hands the value to the view; the widget redraws
 * every view (main map, path, comparison) after it. `visible` shows it only under a
 * condition. All entries go in the "Display" panel.
 */
import { AUTO_SIGNED } from "../lib/colormap";
import { SIGN_MODES } from "../lib/display";
import { SHAPLEY } from "../lib/methods";
import { controlKit, stringOptions, type TraitsOf } from "./bound-controls";
import type { HeatmapView } from "./heatmap";

const { range, select, selectFrom, toggle } = controlKit<HeatmapView>();

/** The built-in tables, offered when the kernel sends no `colormap_names`. */
export const BUILTIN_COLORMAP_NAMES = ["inferno", "viridis", AUTO_SIGNED] as const;

const SIGN_LABELS: Record<(typeof SIGN_MODES)[number], string> = {
  both: "both",
  positive: "positive",
  negative: "negative",
  absolute: "absolute",
};

export const DISPLAY_CONTROLS = [
  range({
    trait: "opacity",
    label: "Opacity",
    ariaLabel: "heatmap opacity",
    min: 0,
    max: 1,
    step: 0.01,
    default: 0.6, // Explainer.opacity's default
    format: (v) => `${Math.round(v * 100)}%`,
    apply: (view, v) => view.setOpacity(v),
  }),
  selectFrom({
    trait: "colormap",
    label: "Colour map",
    options: [{ value: "auto", label: "auto" }],
    optionsFrom: {
      trait: "colormap_names",
      read: (raw) => {
        const names = stringOptions(raw);
        return names.length > 0 ? names : BUILTIN_COLORMAP_NAMES.map((n) => ({ value: n, label: n }));
      },
    },
    default: "auto",
    apply: (view, name) => view.setColormap(name),
  }),
  range({
    trait: "clip",
    label: "Clip",
    ariaLabel: "percentile of |values| at the ends of the colour range",
    min: 90,
    max: 100,
    step: 0.1,
    default: 99.5,
    format: (v) => `p${Number(v.toFixed(1))}`,
    apply: (view, v) => view.setClip(v),
  }),
  select({
    trait: "sign",
    label: "Sign",
    options: SIGN_MODES.map((m) => ({ value: m, label: SIGN_LABELS[m] })),
    default: "both",
    apply: (view, v) => view.setSign(v),
  }),
  range({
    trait: "top_k",
    label: "Top",
    ariaLabel: "percentage of the area drawn (largest |values|)",
    min: 1,
    max: 100,
    step: 1,
    default: 100,
    format: (v) => `${v}%`,
    apply: (view, v) => view.setTopK(v),
  }),
  toggle({
    trait: "show_uncertainty",
    label: "Uncertainty",
    ariaLabel: "draw the 95% confidence half-width instead of the values",
    default: false,
    visible: (ctx) => ctx.method === SHAPLEY || ctx.hasUncertainty,
    apply: (view, v) => view.setShowUncertainty(v),
  }),
] as const;

/** `{opacity: number; colormap: string; ...}`, one key per entry above. */
export type DisplayTraits = TraitsOf<typeof DISPLAY_CONTROLS>;
