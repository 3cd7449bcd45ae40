/** Kernel-owned trait values used by the tests (protocol v2). */

export const METHOD_CHOICES = [
  { name: "saliency", label: "Saliency", options: [] },
  { name: "integrated_gradients", label: "Integrated gradients", options: ["steps", "rule"] },
  { name: "smoothgrad", label: "SmoothGrad", options: ["samples", "noise", "smooth_base"] },
  { name: "shapley", label: "Shapley", options: ["budget", "grid"] },
  { name: "lime", label: "LIME", options: ["budget", "grid"] },
  { name: "occlusion", label: "Occlusion", options: ["window", "stride"] },
  { name: "grad_cam", label: "Grad-CAM", options: ["layer"] },
];

export const CHOICE_TRAITS = {
  method_choices: METHOD_CHOICES,
  rule_choices: ["gausslegendre", "riemann_trapezoid", "riemann_left"],
  smooth_base_choices: ["saliency", "integrated_gradients"],
  layer_choices: ["conv1", "conv2"],
  baseline_choices: ["black", "white", "blur", "noise"],
};

/** The compute traits at their Python defaults. */
export const COMPUTE_DEFAULTS = {
  method: "saliency",
  steps: 50,
  rule: "gausslegendre",
  samples: 20,
  noise: 0.15,
  smooth_base: "saliency",
  budget: 256,
  grid: 8,
  window: 8,
  stride: 4,
  layer: "",
  baseline: "black",
  blur_sigma: 5,
  mix: 0,
  alpha: 1,
  compare: [] as string[],
  index: 0,
};
