/**
 * The compute controls: one entry each, bound to the synced trait of the same name.
 * A change is saved to the trait (`model.set` + `save_changes`); the kernel observes
 * the trait and recomputes (latest wins), so every control is live: no Apply button.
 * Sliders write while dragged (at most every THROTTLE_MS; the last value always).
 *
 * HOW TO ADD A COMPUTE CONTROL (two files, one entry each):
 *
 * 1. Python, `nbexplain/widgets/explainer.py`, class `Explainer`: the trait, and its
 *    name in the `options` of the methods that use it (`method_choices`):
 *        temperature = t.Float(1.0, min=0.1, max=10.0).tag(sync=True)
 *        ... {"name": "my_method", "label": "My method", "options": ["temperature"]}
 * 2. Here: one entry in COMPUTE_CONTROLS,
 *        range({ trait: "temperature", label: "Temperature", min: 0.1, max: 10, step: 0.1,
 *                default: 1, panel: "method", methodOption: true, throttleMs: THROTTLE_MS,
 *                format: (v) => v.toFixed(1) }),
 *
 * `methodOption: true` shows it only while the chosen method lists it; `visible: (ctx)
 * => ...` for any other condition; `panel` is the group it goes in ("method",
 * "baseline", "path"). `range` (slider; `integer`, `scale: "log"`), `select` (static
 * `options`), `selectFrom` (options from a kernel-owned list trait, re-rendered when it
 * changes) and `toggle` (checkbox) are the element kinds. The element gets the class
 * `nbx-<trait>` (underscores as dashes) inside `label.nbx-control[data-trait=<trait>]`;
 * the trait's TypeScript type comes from this list (`WidgetTraits`, lib/types.ts).
 */
import { IG, sanitizeMethodChoices } from "../lib/methods";
import { controlKit, type TraitsOf } from "./bound-controls";

const { range, selectFrom } = controlKit<unknown>();

/** Sliders that recompute write at most this often while dragged (ms). */
export const THROTTLE_MS = 150;

const int = (v: number): string => String(Math.round(v));

export const COMPUTE_CONTROLS = [
  // --- Method ------------------------------------------------------------------
  selectFrom({
    trait: "method",
    label: "Method",
    ariaLabel: "attribution method",
    panel: "method",
    optionsFrom: {
      trait: "method_choices",
      read: (raw) => sanitizeMethodChoices(raw).map((c) => ({ value: c.name, label: c.label })),
    },
    default: "saliency",
  }),
  range({ trait: "steps", label: "Steps", panel: "method", methodOption: true, min: 1, max: 300, step: 1, integer: true, default: 50, format: int, throttleMs: THROTTLE_MS }),
  selectFrom({ trait: "rule", label: "Rule", panel: "method", methodOption: true, optionsFrom: { trait: "rule_choices" }, default: "gausslegendre" }),
  range({ trait: "samples", label: "Samples", panel: "method", methodOption: true, min: 1, max: 200, step: 1, integer: true, default: 25, format: int, throttleMs: THROTTLE_MS }),
  range({
    trait: "noise",
    label: "Noise σ",
    ariaLabel: "noise standard deviation, as a fraction of the input's range",
    panel: "method",
    methodOption: true,
    min: 0,
    max: 1,
    step: 0.01,
    default: 0.15,
    format: (v) => v.toFixed(2),
    throttleMs: THROTTLE_MS,
  }),
  selectFrom({ trait: "smooth_base", label: "Base", ariaLabel: "method SmoothGrad averages", panel: "method", methodOption: true, optionsFrom: { trait: "smooth_base_choices" }, default: "saliency" }),
  range({
    trait: "budget",
    label: "Budget",
    ariaLabel: "model evaluations",
    panel: "method",
    methodOption: true,
    min: 16,
    max: 4096,
    step: 1,
    integer: true,
    scale: "log",
    auto: true,
    default: 0,
    format: int,
    throttleMs: THROTTLE_MS,
  }),
  range({ trait: "grid", label: "Grid", ariaLabel: "patches per side", panel: "method", methodOption: true, min: 2, max: 16, step: 1, integer: true, default: 8, format: (v) => `${v}×${v}`, throttleMs: THROTTLE_MS }),
  range({ trait: "window", label: "Window", panel: "method", methodOption: true, min: 1, max: 64, step: 1, integer: true, auto: true, default: 0, format: (v) => `${v} px`, throttleMs: THROTTLE_MS }),
  range({ trait: "stride", label: "Stride", panel: "method", methodOption: true, min: 1, max: 64, step: 1, integer: true, auto: true, default: 0, format: (v) => `${v} px`, throttleMs: THROTTLE_MS }),
  selectFrom({
    trait: "layer",
    label: "Layer",
    panel: "method",
    methodOption: true,
    options: [{ value: "", label: "auto" }],
    optionsFrom: { trait: "layer_choices" },
    default: "",
  }),
  // --- Baseline ----------------------------------------------------------------
  selectFrom({ trait: "baseline", label: "Baseline", panel: "baseline", optionsFrom: { trait: "baseline_choices" }, default: "zero" }),
  range({
    trait: "blur_sigma",
    label: "Blur σ",
    ariaLabel: "blur standard deviation in pixels",
    panel: "baseline",
    visible: (ctx) => ctx.get("baseline") === "blur",
    min: 0.5,
    max: 20,
    step: 0.5,
    default: 5,
    format: (v) => `${v} px`,
    throttleMs: THROTTLE_MS,
  }),
  range({
    trait: "mix",
    label: "Mix",
    ariaLabel: "share of the input in the baseline",
    panel: "baseline",
    min: 0,
    max: 1,
    step: 0.01,
    default: 0,
    format: (v) => `${Math.round(v * 100)}%`,
    throttleMs: THROTTLE_MS,
  }),
  // --- Path (integrated gradients) ------------------------------------------------
  range({
    trait: "alpha",
    label: "α",
    ariaLabel: "position on the integration path",
    panel: "path",
    visible: (ctx) => ctx.method === IG,
    min: 0,
    max: 1,
    step: 0.01,
    default: 1,
    format: (v) => v.toFixed(2),
    throttleMs: THROTTLE_MS,
  }),
] as const;

/** `{method: string; steps: number; ...}`, one key per entry above. */
export type ComputeTraits = TraitsOf<typeof COMPUTE_CONTROLS>;
