"""The widget's compute controls: which synced traits each image method reads, and the
keyword options of :func:`nbexplain.attribute` they make. One table serves the front end (the
``method_choices`` trait says which controls to show), the kernel (``method_options``) and the
tests (``w.attribution.options`` is exactly what ``attribute()`` is given).

To add a control: a trait on ``Explainer`` (``widgets/explainer.py``), its name in
``COMPUTE_TRAITS`` and in the ``options`` of the methods that read it here, its translation in
``method_options``, and one entry in the front end's control list (``js/ui/compute-controls.ts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..methods.integrated_gradients import RULES


@dataclass(frozen=True)
class MethodChoice:
    name: str
    label: str
    options: tuple[str, ...]


_BASELINE = ("baseline", "blur_sigma", "mix")

#: the image methods the widget offers, in the picker's order, with the traits each reads
METHOD_CHOICES: tuple[MethodChoice, ...] = (
    MethodChoice("saliency", "Saliency", ()),
    MethodChoice("input_x_gradient", "Input × gradient", ()),
    MethodChoice("smoothgrad", "SmoothGrad", ("samples", "noise", "smooth_base")),
    MethodChoice("integrated_gradients", "Integrated Gradients", ("steps", "rule") + _BASELINE),
    MethodChoice("grad_cam", "Grad-CAM", ("layer",)),
    MethodChoice("grad_cam_pp", "Grad-CAM++", ("layer",)),
    MethodChoice("occlusion", "Occlusion", ("window", "stride") + _BASELINE),
    MethodChoice("shapley", "Shapley (patches)", ("budget", "grid") + _BASELINE),
    MethodChoice("lime", "LIME (patches)", ("budget", "grid") + _BASELINE),
)
CHOICES = {c.name: c for c in METHOD_CHOICES}

#: traits whose change recomputes the map (``alpha`` and ``compare`` have their own jobs)
COMPUTE_TRAITS = ("method", "target", "index", "steps", "rule", "samples", "noise",
                  "smooth_base", "budget", "grid", "window", "stride", "layer", "baseline",
                  "blur_sigma", "mix", "paint")
#: traits that change the explained input itself (the painted image, the prediction)
INPUT_TRAITS = ("index", "paint", "baseline", "blur_sigma", "mix")

RULE_CHOICES = tuple(RULES)
SMOOTH_BASES = ("saliency", "input_x_gradient", "integrated_gradients")
#: baseline presets: "zero" (every method's default), the image's min / max, its blur, noise
BASELINES = ("zero", "black", "white", "blur", "noise")

#: explain()'s keyword options that set a control's trait: option -> trait
OPTION_TRAITS = {"steps": "steps", "rule": "rule", "samples": "samples", "noise": "noise",
                 "base": "smooth_base", "smooth_base": "smooth_base", "window": "window",
                 "stride": "stride", "layer": "layer", "blur_sigma": "blur_sigma",
                 "mix": "mix", "budget": "budget", "grid": "grid", "alpha": "alpha"}


def option_trait(option: str, method: str) -> str | None:
    """The trait an option of explain() sets (``samples=`` is the budget of Shapley and
    LIME, SmoothGrad's noisy copies otherwise)."""
    if option == "samples" and method in ("shapley", "lime"):
        return "budget"
    return OPTION_TRAITS.get(option)


def baseline_spec(name: str, sigma: float) -> Any:
    """The ``baseline=`` preset of ``integrated_gradients.make_baseline`` for a menu entry."""
    return {"zero": 0.0, "black": "black", "white": "white", "blur": ("blur", float(sigma)),
            "noise": "uniform", "mean": "mean"}[name]


def patch_size(grid: int, hw: tuple[int, int]) -> tuple[int, int]:
    """The patch of a ``grid``×``grid`` division of an H×W image (the last ones may be cut)."""
    return int(np.ceil(hw[0] / grid)), int(np.ceil(hw[1] / grid))


def method_options(name: str, traits: Any, hw: tuple[int, int], baseline: Any,
                   layer: Any, extra: dict) -> dict:
    """The options of ``attribute(..., method=name, **options)`` that the widget's controls
    make. ``traits`` is the widget; ``baseline`` the baseline array (the widget builds it,
    with its mix); ``layer`` the layer (a name, a module given to explain(), or None =
    automatic); ``extra`` explain()'s other options, kept where the method takes them."""
    o: dict[str, Any] = {}
    if name == "smoothgrad":
        o.update(samples=int(traits.samples), noise=float(traits.noise),
                 base=str(traits.smooth_base))
    elif name == "integrated_gradients":
        o.update(steps=int(traits.steps), rule=str(traits.rule), baseline=baseline)
    elif name in ("grad_cam", "grad_cam_pp"):
        o.update(layer=layer)
    elif name == "occlusion":    # 0: the method's own choice
        o.update(window=int(traits.window) or None, stride=int(traits.stride) or None,
                 baseline=baseline)
    elif name in ("shapley", "lime"):
        o.update(baseline=baseline, features=("grid", patch_size(int(traits.grid), hw)))
        if int(traits.budget):      # 0: the method's own default (LIME's 1000, Shapley's)
            o["samples"] = int(traits.budget)
    o.update(extra)   # explain()'s options that no control shows (batch_size=, window=(1, 4, 4))
    return o
