#!/usr/bin/env python
"""Speed and memory of nbexplain's gradient methods against their peers (issue 3).

Same run, same inputs, same explicit int targets:

* torch: ``nbexplain.attribute`` vs Captum 0.9 (``IntegratedGradients``, ``Saliency``,
  ``LayerGradCam`` + ``LayerAttribution.interpolate``);
* Keras: ``nbexplain.attribute`` vs the plain ``tf.GradientTape`` code of the common tutorials
  (TensorFlow's IG tutorial with its ``@tf.function`` ``one_batch``, a GradientTape saliency
  map, the Keras Grad-CAM example with its per-call sub-model), written below.

Models (``benchmarks/_models.py``): a small CNN on 3×32×32, a ResNet-18-like network on
3×224×224 and a tabular MLP, with Keras copies that carry the same weights.

Reported per (framework, model, method): median / min / max wall time over the repeats (after
warm-up), ours/theirs time ratio, peak memory of one call (CPU: peak RSS increase in a fresh
subprocess; CUDA: ``torch.cuda.max_memory_allocated`` above the pre-call level) and its ratio,
with PASS/MISS against the issue's targets. Then: completeness error vs time for
steps ∈ {16, 32, 64, 128} and at an equal time budget, and the cost of one
``integrated_gradients_progressive`` refinement (n → 2n) vs a plain n-step pass.

Usage::

    .venv/bin/python benchmarks/bench_gradients.py            # full run, writes docs/benchmarks.md
    .venv/bin/python benchmarks/bench_gradients.py --quick    # fewer repeats
    .venv/bin/python benchmarks/bench_gradients.py --only torch --device cuda

Nothing here is a test: the numbers are printed (and written to the "Gradient methods
(issue 3)" section of docs/benchmarks.md), never asserted.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import itertools
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):
    if p not in sys.path:
        sys.path.insert(0, p)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# --batch and --threads travel to the worker subprocesses as these two variables (read by
# _models.BATCH and below, before torch or TensorFlow start their thread pools)
THREADS = os.environ.get("NBX_BENCH_THREADS", "")
if THREADS:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[var] = THREADS
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"

IG_STEPS = 50
MODELS = ("cnn", "resnet", "mlp")
METHODS = {"cnn": ("integrated_gradients", "saliency", "grad_cam"),
           "resnet": ("integrated_gradients", "saliency", "grad_cam"),
           "mlp": ("integrated_gradients", "saliency")}
TIME_TARGET = {"cnn": 0.8, "mlp": 0.8, "resnet": 1.0}
ACC_STEPS = (16, 32, 64, 128)
ACC_MODELS = ("cnn", "mlp")
REFINE_N = 32
_BATCH_ENV = os.environ.get("NBX_BENCH_BATCH", "")
if _BATCH_ENV or THREADS:   # one section per setting (issue 19: batch 1 and 8, 1 and all threads)
    SECTION = (f"## Gradient methods, batch {_BATCH_ENV or 'default'}, "
               f"{THREADS or 'default'} thread{'' if THREADS == '1' else 's'} (issue 19)")
    NOTES_MARK = f"<!-- notes: issue 19, batch {_BATCH_ENV}, threads {THREADS} -->"
else:
    SECTION = "## Gradient methods (issue 3)"
    NOTES_MARK = "<!-- notes: issue 3 -->"
METHOD_SHORT = {"integrated_gradients": "IG", "saliency": "saliency", "grad_cam": "Grad-CAM"}


# =============================================================================================
# implementations under test
# =============================================================================================
@dataclass
class Impl:
    name: str
    label: str
    fn: Callable[[], Any]
    values: Callable[[Any], Any]     # result -> numpy attribution values (for agreement checks)
    ours: bool = False
    floor: bool = False              # hand-written minimum: a lower bound, not a peer
    variant: bool = False            # nbexplain with another option: against the floor only


@dataclass
class Group:
    """One (framework, model, method) and its implementations, sharing model and inputs."""
    fw: str
    model: str
    method: str
    impls: dict
    # (ours, theirs, note); the first comparison is the like-for-like one
    comparisons: list
    rule: str
    sync: Callable[[Any], None] = lambda out: None
    extra: dict = field(default_factory=dict)


def _torch_sync(device: str):
    import torch

    if device.startswith("cuda"):
        return lambda out=None: torch.cuda.synchronize()
    return lambda out=None: None


def torch_group(model: str, method: str, device: str, steps: int = IG_STEPS) -> Group:
    import numpy as np
    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    import _models
    import nbexplain

    tm = _models.torch_model(model, device)
    x = torch.from_numpy(_models.inputs(model)).to(device)
    t_np = _models.targets(model)
    t = torch.from_numpy(t_np).to(device)
    cpu = lambda a: a.detach().cpu().numpy()  # noqa: E731
    impls: dict[str, Impl] = {}
    comps: list = []
    rule = ""
    if method == "integrated_gradients":
        rule = f"gausslegendre, {steps} steps"
        impls["ours"] = Impl("ours", "nbexplain (with delta)", lambda: nbexplain.attribute(
            tm, x, method="integrated_gradients", target=t_np, steps=steps,
            rule="gausslegendre"), lambda r: r.values, ours=True)
        impls["ours_nodelta"] = Impl("ours_nodelta", "nbexplain, delta=False",
                                     lambda: nbexplain.attribute(
            tm, x, method="integrated_gradients", target=t_np, steps=steps,
            rule="gausslegendre", delta=False), lambda r: r.values, variant=True)
        impls["captum_delta"] = Impl(
            "captum_delta", "Captum, return_convergence_delta=True",
            lambda: IntegratedGradients(tm).attribute(
                x, target=t, n_steps=steps, method="gausslegendre",
                return_convergence_delta=True), lambda r: cpu(r[0]))
        impls["captum"] = Impl(
            "captum", "Captum, no delta", lambda: IntegratedGradients(tm).attribute(
                x, target=t, n_steps=steps, method="gausslegendre"), cpu)
        comps = [("ours", "captum_delta", "like-for-like (both compute delta)"),
                 ("ours", "captum", "Captum without delta")]
    elif method == "saliency":
        rule = "|∂f/∂x|"
        impls["ours"] = Impl("ours", "nbexplain", lambda: nbexplain.attribute(
            tm, x, method="saliency", target=t_np), lambda r: r.values, ours=True)
        impls["captum"] = Impl("captum", "Captum Saliency(abs=True)", lambda: Saliency(
            tm).attribute(x, target=t, abs=True), cpu)
        comps = [("ours", "captum", "")]
    elif method == "grad_cam":
        layer = _models.GRADCAM_LAYER[model]
        mod = dict(tm.named_modules())[layer]
        size = tuple(x.shape[2:])
        rule = f"layer {layer}, ReLU, bilinear upsample"

        def captum_cam():
            a = LayerGradCam(tm, mod).attribute(x, target=t, relu_attributions=True)
            return LayerAttribution.interpolate(a, size, interpolate_mode="bilinear")

        impls["ours"] = Impl("ours", "nbexplain", lambda: nbexplain.attribute(
            tm, x, method="grad_cam", target=t_np, layer=layer), lambda r: r.values, ours=True)
        impls["captum"] = Impl("captum", "Captum LayerGradCam + interpolate", captum_cam,
                               lambda r: cpu(r)[:, 0])
        comps = [("ours", "captum", "")]
    else:
        raise ValueError(method)
    impls["floor"] = _torch_floor(tm, x, t, model, method, steps)
    sync = _torch_sync(device)
    return Group("torch", model, method, impls, comps, rule, sync=lambda out: sync(),
                 extra={"tm": tm, "x": x, "t": t_np})


def _torch_floor(tm, x, t, model: str, method: str, steps: int) -> Impl:
    """The same passes written by hand with no checks, options or delta: a lower bound on
    what any library can do with the same forward/backward work."""
    import numpy as np
    import torch

    import _models

    cpu = lambda a: a.detach().cpu().numpy()  # noqa: E731
    if method == "integrated_gradients":
        nodes, w = np.polynomial.legendre.leggauss(steps)
        a = torch.as_tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)
        w = torch.as_tensor(w / 2, dtype=x.dtype, device=x.device)
        view = (-1,) + (1,) * x.dim()

        def fn():   # baseline 0: path points alpha * x, alpha-major
            pts = (a.view(view) * x[None]).reshape((-1,) + tuple(x.shape[1:]))
            pts.requires_grad_(True)
            s = tm(pts).gather(1, t.repeat(steps)[:, None]).sum()
            (g,) = torch.autograd.grad(s, pts)
            return x * (g.view((steps,) + tuple(x.shape)) * w.view(view)).sum(0)
        return Impl("floor", "hand-written IG (no delta)", fn, cpu, floor=True)
    if method == "saliency":
        def fn():
            xg = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(tm(xg).gather(1, t[:, None]).sum(), xg)
            return g.abs()
        return Impl("floor", "hand-written saliency", fn, cpu, floor=True)
    layer = dict(tm.named_modules())[_models.GRADCAM_LAYER[model]]

    def fn():
        store = {}
        h = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o))
        try:
            s = tm(x).gather(1, t[:, None]).sum()
        finally:
            h.remove()
        act = store["a"]
        (g,) = torch.autograd.grad(s, act)
        cam = torch.relu((g.mean((2, 3), keepdim=True) * act).sum(1, keepdim=True))
        return torch.nn.functional.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear",
                                               align_corners=False)[:, 0]
    return Impl("floor", "hand-written Grad-CAM", fn, lambda r: cpu(r), floor=True)


# --- Keras: the tutorial-style baselines -----------------------------------------------------
def tutorial_ig(model):
    """TensorFlow's IG tutorial (tensorflow.org/tutorials/interpretability/integrated_gradients):
    interpolate the images for all alphas, gradients with tf.GradientTape inside the tutorial's
    ``@tf.function`` ``one_batch`` (here one batch for all alphas and all examples), riemann
    trapezoid average. Logits instead of the tutorial's softmax probabilities, to match
    nbexplain's default ``score="logit"``."""
    import tensorflow as tf

    def interpolate_images(baseline, image, alphas):
        alphas_x = tf.reshape(alphas, [-1] + [1] * len(image.shape))   # (m+1, 1, ...)
        delta = image - baseline
        return baseline[None] + alphas_x * delta[None]                  # (m+1, N, ...)

    def compute_gradients(images, target_class_idx):
        with tf.GradientTape() as tape:
            tape.watch(images)
            logits = model(images)
            scores = tf.gather(logits, target_class_idx, axis=1, batch_dims=1)
        return tape.gradient(scores, images)

    def integral_approximation(gradients):
        grads = (gradients[:-1] + gradients[1:]) / tf.constant(2.0)   # riemann_trapezoidal
        return tf.math.reduce_mean(grads, axis=0)

    @tf.function
    def one_batch(baseline, image, alpha_batch, target_class_idx):
        path = interpolate_images(baseline, image, alpha_batch)
        shape = tf.shape(path)
        flat = tf.reshape(path, tf.concat([[-1], shape[2:]], 0))      # alpha-major
        tgt = tf.tile(target_class_idx, [tf.shape(alpha_batch)[0]])
        return tf.reshape(compute_gradients(flat, tgt), shape)

    def integrated_gradients(baseline, image, target_class_idx, m_steps=50, delta=False,
                             eager=False):
        alphas = tf.linspace(start=0.0, stop=1.0, num=m_steps + 1)
        batch = one_batch.python_function if eager else one_batch
        avg_gradients = integral_approximation(batch(baseline, image, alphas,
                                                     target_class_idx))
        ig = (image - baseline) * avg_gradients
        if not delta:
            return ig
        # the tutorial's completeness check: f(input) - f(baseline), one more forward pass
        n = image.shape[0]
        both = tf.gather(model(tf.concat([image, baseline], 0)),
                         tf.concat([target_class_idx, target_class_idx], 0), axis=1,
                         batch_dims=1)
        axes = list(range(1, len(image.shape)))
        return ig, tf.reduce_sum(ig, axes) - (both[:n] - both[n:])

    return integrated_gradients


def tutorial_saliency(model, x, t):
    """Vanilla gradient saliency as in the common GradientTape tutorials (eager)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        preds = model(x)
        score = tf.gather(preds, t, axis=1, batch_dims=1)
    return tf.abs(tape.gradient(score, x))


def tf_function_saliency(model):
    """The same saliency written as a Keras user who cares about speed writes it: the tape in
    one ``tf.function`` (traced once per input shape)."""
    import tensorflow as tf

    @tf.function
    def run(x, t):
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = tf.gather(model(x), t, axis=1, batch_dims=1)
        return tf.abs(tape.gradient(score, x))

    return run


def tf_function_gradcam(model, layer_name: str):
    """keras.io's Grad-CAM (``keras_gradcam_example``) with its sub-model built once and its
    tape in one ``tf.function``."""
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.inputs, [model.get_layer(layer_name).output, model.output])

    @tf.function
    def run(img_array, pred_index):
        with tf.GradientTape() as tape:
            acts, preds = grad_model(img_array)
            class_channel = tf.gather(preds, pred_index, axis=1, batch_dims=1)
        grads = tape.gradient(class_channel, acts)
        pooled = tf.reduce_mean(grads, axis=(1, 2))
        heatmap = tf.maximum(acts @ pooled[:, None, :, None], 0)
        return tf.image.resize(heatmap, tf.shape(img_array)[1:3], method="bilinear")[..., 0]

    return run


def keras_gradcam_example(img_array, model, last_conv_layer_name, pred_index):
    """The Keras Grad-CAM example (keras.io/examples/vision/grad_cam), batched: the sub-model is
    built on every call as in ``make_gradcam_heatmap``; ReLU and a bilinear resize to the input
    size instead of the example's division by the max and PIL resize (same output as
    nbexplain's default)."""
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.inputs, [model.get_layer(last_conv_layer_name).output,
                                            model.output])
    with tf.GradientTape() as tape:
        last_conv_layer_output, preds = grad_model(img_array)
        class_channel = tf.gather(preds, pred_index, axis=1, batch_dims=1)
    grads = tape.gradient(class_channel, last_conv_layer_output)
    pooled_grads = tf.reduce_mean(grads, axis=(1, 2))
    heatmap = last_conv_layer_output @ pooled_grads[:, None, :, None]   # (N, h, w, 1)
    heatmap = tf.maximum(heatmap, 0)
    return tf.image.resize(heatmap, img_array.shape[1:3], method="bilinear")[..., 0]


def _keras_ig_floor(km, x, t, steps: int) -> Impl:
    """The tutorial's work (all path points in one pass, trapezoid weights, baseline 0)
    as ONE tf.function with the averaging and the product with x inside it, no checks and no
    delta: a lower bound on what any implementation of the tutorial's passes can do."""
    import numpy as np
    import tensorflow as tf

    m = steps + 1
    w = np.full(m, 1.0 / steps)
    w[[0, -1]] /= 2
    alphas = tf.constant(np.linspace(0.0, 1.0, m), dtype=x.dtype)
    weights = tf.constant(w, dtype=x.dtype)
    view = [m] + [1] * len(x.shape)

    @tf.function
    def run(x, t):
        pts = tf.reshape(alphas, view) * x[None]                        # alpha-major
        flat = tf.reshape(pts, tf.concat([[-1], tf.shape(x)[1:]], 0))
        with tf.GradientTape() as tape:
            tape.watch(flat)
            s = tf.gather(km(flat), tf.tile(t, [m]), axis=1, batch_dims=1)
        g = tf.reshape(tape.gradient(s, flat), tf.shape(pts))
        return x * tf.reduce_sum(g * tf.reshape(weights, view), axis=0)

    return Impl("floor", "hand-written IG, one tf.function (no delta)", lambda: run(x, t),
                lambda r: np.asarray(r), floor=True)


def _tf_sync():
    import tensorflow as tf

    fn = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if fn is None or not tf.config.list_logical_devices("GPU"):
        return lambda out=None: None

    def sync(out=None):
        fn()
    return sync


def keras_group(model: str, method: str, device: str, steps: int = IG_STEPS) -> Group:
    import numpy as np
    import tensorflow as tf

    import _models
    import nbexplain

    km = _models.keras_model(model)
    x = tf.constant(_models.to_keras_layout(_models.inputs(model)))
    t_np = _models.targets(model)
    t = tf.constant(t_np)
    npv = lambda a: np.asarray(a)  # noqa: E731
    impls: dict[str, Impl] = {}
    comps: list = []
    if method == "integrated_gradients":
        rule = f"riemann_trapezoid, {steps} intervals ({steps + 1} points)"
        ig = tutorial_ig(km)
        b = tf.zeros_like(x)
        impls["ours"] = Impl("ours", "nbexplain (with delta)", lambda: nbexplain.attribute(
            km, x, method="integrated_gradients", target=t_np, steps=steps + 1,
            rule="riemann_trapezoid"), lambda r: r.values, ours=True)
        impls["ours_nodelta"] = Impl("ours_nodelta", "nbexplain, delta=False",
                                     lambda: nbexplain.attribute(
            km, x, method="integrated_gradients", target=t_np, steps=steps + 1,
            rule="riemann_trapezoid", delta=False), lambda r: r.values, variant=True)
        impls["tutorial_delta"] = Impl(
            "tutorial_delta", "TF tutorial (tf.function) + delta",
            lambda: ig(b, x, t, m_steps=steps, delta=True), lambda r: npv(r[0]))
        impls["tutorial"] = Impl("tutorial", "TF tutorial (tf.function), no delta",
                                 lambda: ig(b, x, t, m_steps=steps), npv)
        comps = [("ours", "tutorial_delta", "like-for-like (both compute delta)"),
                 ("ours", "tutorial", "tutorial without delta")]
        if model != "resnet":   # 7 s a call on the ResNet: the small models show the effect
            impls["tutorial_eager"] = Impl(
                "tutorial_eager", "TF tutorial code run eagerly (no tf.function), no delta",
                lambda: ig(b, x, t, m_steps=steps, eager=True), npv)
            comps.append(("ours", "tutorial_eager", "informational"))
        if model != "resnet":
            impls["floor"] = _keras_ig_floor(km, x, t, steps)
    elif method == "saliency":
        rule = "|∂f/∂x|"
        impls["ours"] = Impl("ours", "nbexplain", lambda: nbexplain.attribute(
            km, x, method="saliency", target=t_np), lambda r: r.values, ours=True)
        sal = tf_function_saliency(km)
        impls["tutorial"] = Impl("tutorial", "GradientTape saliency in tf.function",
                                 lambda: sal(x, t), npv)
        impls["tutorial_eager"] = Impl("tutorial_eager", "GradientTape saliency (eager)",
                                       lambda: tutorial_saliency(km, x, t), npv)
        comps = [("ours", "tutorial", ""), ("ours", "tutorial_eager", "informational")]
    elif method == "grad_cam":
        layer = _models.GRADCAM_LAYER[model]
        rule = f"layer {layer}, ReLU, bilinear upsample"
        impls["ours"] = Impl("ours", "nbexplain", lambda: nbexplain.attribute(
            km, x, method="grad_cam", target=t_np, layer=layer), lambda r: r.values, ours=True)
        cam = tf_function_gradcam(km, layer)
        impls["tutorial"] = Impl("tutorial", "keras.io Grad-CAM in tf.function",
                                 lambda: cam(x, t), npv)
        impls["tutorial_eager"] = Impl("tutorial_eager", "Keras Grad-CAM example (eager)",
                                       lambda: keras_gradcam_example(x, km, layer, t), npv)
        comps = [("ours", "tutorial", ""), ("ours", "tutorial_eager", "informational")]
    else:
        raise ValueError(method)
    sync = _tf_sync()
    return Group("keras", model, method, impls, comps, rule, sync=lambda out: sync(),
                 extra={"km": km, "x": x, "t": t_np})


def make_group(fw: str, model: str, method: str, device: str) -> Group:
    return (torch_group if fw == "torch" else keras_group)(model, method, device)


# =============================================================================================
# timing
# =============================================================================================
def timed(fn: Callable[[], Any], sync: Callable[[Any], None]) -> tuple[float, Any]:
    sync(None)
    t0 = time.perf_counter()
    out = fn()
    sync(out)
    return time.perf_counter() - t0, out


# --- other processes' CPU use (the benchmark machine may be shared) ----------------------------
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_snapshot() -> tuple[float, int, int] | None:
    """(wall, busy ticks of the whole machine, ticks of this process incl. threads)."""
    try:
        with open("/proc/stat") as f:
            v = [int(a) for a in f.readline().split()[1:]]
        busy = sum(v[:8]) - v[3] - v[4]          # minus idle and iowait
        with open("/proc/self/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
        own = int(st[11]) + int(st[12])          # utime + stime
        return time.perf_counter(), busy, own
    except (OSError, ValueError, IndexError):
        return None


def _others_load(a, b) -> float:
    """Cores used by other processes between two snapshots."""
    if a is None or b is None or b[0] <= a[0]:
        return 0.0
    return max(0.0, ((b[1] - a[1]) - (b[2] - a[2])) / _TICK / (b[0] - a[0]))


def wait_quiet(limit_s: float = 30.0, threshold: float = 0.3) -> float:
    """Wait (up to limit_s) until other processes use < threshold cores over 0.3 s."""
    t0 = time.perf_counter()
    while True:
        a = _cpu_snapshot()
        time.sleep(0.3)
        load = _others_load(a, _cpu_snapshot())
        if load < threshold or time.perf_counter() - t0 > limit_s:
            return load


ROUND_BUDGET_S = 3.0   # timing rounds of fast calls: about this long per group in all
MAX_REPEATS = 400
CONTENDED = 0.3    # other processes' cores during a block above which the block is re-run
BLOCK_S = 0.15     # rounds are grouped into blocks of at least this long (CPU ticks are 10 ms)


def run_rounds(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Time ``fns`` (name -> callable returning its elapsed seconds) in ``repeats`` interleaved
    rounds, in orders that give each implementation every other one as its predecessor
    equally often (all permutations in turn, or a seeded shuffle each round above four
    implementations). A plain rotation ran one implementation right after the same other one
    every time: nbexplain's Keras saliency followed the 13 ms eager-tape row, whose op-by-op
    run left the caches cold, while the tf.function peer followed nbexplain (1.08× in that
    order, 0.99× with every order). Rounds are grouped into blocks of >= BLOCK_S; a
    block during which other processes used more than CONTENDED cores is discarded and re-run,
    within a retry budget (at most ``repeats`` re-runs, and re-runs plus waits may take at most
    half the time of the kept blocks + 5 s), so a busy machine cannot stretch the run without
    bound; contended blocks kept after that are counted in the returned info."""
    names = list(fns)
    perms = list(itertools.permutations(names)) if len(names) <= 4 else None
    shuffle = random.Random(0).shuffle
    times: dict = {n: [] for n in names}
    kept_loads, discarded, done, r = [], 0, 0, 0
    kept_s = extra_s = 0.0
    wait_quiet(5.0)
    while done < repeats:
        snap = _cpu_snapshot()
        t0 = time.perf_counter()
        block: dict = {n: [] for n in names}
        k = 0
        while done + k < repeats and (k == 0 or time.perf_counter() - t0 < BLOCK_S):
            if perms is not None:
                order = list(perms[r % len(perms)])
            else:
                order = list(names)
                shuffle(order)
            for n in order:
                block[n].append(fns[n]())
            r += 1
            k += 1
        dt = time.perf_counter() - t0
        load = _others_load(snap, _cpu_snapshot())
        if (load > CONTENDED and discarded < repeats
                and extra_s + dt <= 0.5 * max(kept_s, dt) + 5.0):
            discarded += 1
            t1 = time.perf_counter()
            wait_quiet(2.0)
            extra_s += dt + (time.perf_counter() - t1)
            continue
        kept_loads.append(load)
        kept_s += dt
        for n in names:
            times[n].extend(block[n])
        done += k
    info = {"discarded_blocks": discarded, "kept_blocks": len(kept_loads),
            "contended_kept": sum(1 for x in kept_loads if x > CONTENDED),
            "others_load_mean": statistics.mean(kept_loads) if kept_loads else 0.0,
            "others_load_max": max(kept_loads) if kept_loads else 0.0}
    return times, info


def _agreement(a, b) -> float | None:
    import numpy as np

    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return float("nan")
        return float(np.max(np.abs(a - b)) / max(1e-30, float(np.max(np.abs(b)))))
    except Exception:
        return None


def _ratio_ci(ours: list[float], theirs: list[float], reps: int = 2000,
              seed: int = 0) -> tuple[float, float] | None:
    """95% bootstrap interval of the median of the paired per-round ratios ours_i/theirs_i
    (the calls of one round run back to back, so a pair shares the machine's state), or
    None with fewer than 5 rounds. On this shared 2-core machine the ratio of medians
    moved by ±0.03–0.05 between runs; the interval says when a verdict is within that."""
    import numpy as np

    n = min(len(ours), len(theirs))
    if n < 5:
        return None
    r = np.asarray(ours[:n]) / np.asarray(theirs[:n])
    rng = np.random.default_rng(seed)
    meds = np.median(r[rng.integers(0, n, size=(reps, n))], axis=1)
    lo, hi = np.percentile(meds, [2.5, 97.5])
    return float(lo), float(hi)


def _stats(ts: list[float]) -> dict:
    return {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "n": len(ts),
            "all": ts}


def time_group(g: Group, repeats: int, warmup: int) -> dict:
    res: dict = {"fw": g.fw, "model": g.model, "method": g.method, "rule": g.rule,
                 "impls": {}, "comparisons": g.comparisons, "errors": {}}
    outs = {}
    live = []
    longest = 0.0
    for name, im in g.impls.items():
        res["impls"][name] = {"label": im.label, "ours": im.ours, "floor": im.floor,
                              "variant": im.variant}
        try:
            for _ in range(warmup):
                dt, out = timed(im.fn, g.sync)
            longest = max(longest, dt)    # the last warm-up call: first calls probe/allocate
            outs[name] = im.values(out)
            live.append(name)
        except Exception as e:  # reported in the table, never hidden
            res["errors"][name] = f"{type(e).__name__}: {e}"
            res["impls"][name]["traceback"] = traceback.format_exc(limit=6)
    def timer(im):
        return lambda: timed(im.fn, g.sync)[0]

    # fast calls get more rounds (about ROUND_BUDGET_S of rounds, up to MAX_REPEATS): the
    # median of 20 sub-millisecond calls moved by ±5% from run to run on a shared machine
    repeats = max(repeats, min(MAX_REPEATS, int(ROUND_BUDGET_S / max(longest * len(live), 1e-9))))
    res["repeats"] = repeats
    times, res["contention"] = run_rounds({n: timer(g.impls[n]) for n in live}, repeats)
    for name in live:
        res["impls"][name]["time"] = _stats(times[name])
    if "ours" in outs:
        for name in outs:
            if name != "ours":
                res["impls"][name]["agreement"] = _agreement(outs["ours"], outs[name])
    return res


# =============================================================================================
# memory (each configuration in a fresh subprocess)
# =============================================================================================
def _proc_status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")   # resets VmHWM (and ru_maxrss) to the current RSS
        return True
    except OSError:
        return False


def measure_memory(fw: str, model: str, method: str, impl: str, device: str,
                   samples: int, warmup: bool = True) -> dict:
    g = make_group(fw, model, method, device)
    im = g.impls[impl]
    cuda = device.startswith("cuda")
    if fw == "torch" and cuda:
        import torch

        timed(im.fn, g.sync)  # warm-up
        peaks = []
        for _ in range(samples):
            gc.collect()
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            _, out = timed(im.fn, g.sync)
            peaks.append(torch.cuda.max_memory_allocated() - base)
            del out
        return {"peak_bytes": statistics.median(peaks), "samples": peaks,
                "how": "torch.cuda.max_memory_allocated - memory_allocated before"}
    if fw == "keras":
        import tensorflow as tf

        if tf.config.list_logical_devices("GPU"):
            timed(im.fn, g.sync)
            peaks = []
            for _ in range(samples):
                gc.collect()
                tf.config.experimental.reset_memory_stats("GPU:0")
                base = tf.config.experimental.get_memory_info("GPU:0")["current"]
                _, out = timed(im.fn, g.sync)
                peaks.append(tf.config.experimental.get_memory_info("GPU:0")["peak"] - base)
                del out
            return {"peak_bytes": statistics.median(peaks), "samples": peaks,
                    "how": "tf get_memory_info peak - current before"}
    # CPU: peak RSS increase over the RSS just before the call
    import resource

    if _reset_hwm():
        if warmup:
            timed(im.fn, g.sync)   # warm-up: one-time costs (lazy init, tracing) not counted
        peaks = []
        for _ in range(samples):
            gc.collect()
            _reset_hwm()
            before = _proc_status_kib("VmRSS")
            _, out = timed(im.fn, g.sync)
            peaks.append((_proc_status_kib("VmHWM") - before) * 1024)
            del out
        return {"peak_bytes": statistics.median(peaks), "samples": peaks,
                "how": "VmHWM - VmRSS before (HWM reset via /proc/self/clear_refs), "
                       + ("after one warm-up call" if warmup else "first call")}
    gc.collect()   # fallback: first call, ru_maxrss - RSS before
    before = _proc_status_kib("VmRSS")
    _, out = timed(im.fn, g.sync)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    return {"peak_bytes": peak * 1024, "samples": [peak * 1024],
            "how": "ru_maxrss - VmRSS before (first call, no warm-up)"}


MEM_ENV = {
    # a fixed mmap threshold turns glibc's dynamic threshold off: tensors >= 64 KiB are
    # mmapped and unmapped on free, so RSS follows live tensor bytes (the same for everyone)
    "MALLOC_MMAP_THRESHOLD_": "65536",
    # TensorFlow's oneDNN CPU allocator is a BFC pool that keeps freed memory: use the system
    # allocator so that a warmed-up call's peak shows in RSS as torch's does
    "TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def run_memory_configs(configs: list[tuple], device: str, quick: bool, jobs: int,
                       log) -> dict:
    def one(cfg):
        fw, model, method, impl = cfg
        samples = 1 if quick else (2 if model == "resnet" else 3)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "mem", "--fw", fw,
               "--model", model, "--method", method, "--impl", impl, "--device", device,
               "--samples", str(samples)]
        env = {**os.environ, **MEM_ENV}
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        m = re.search(r"^RESULT (.*)$", p.stdout, re.M)
        if p.returncode != 0 or not m:
            err = (p.stderr.strip().splitlines() or ["?"])[-1]
            return cfg, {"error": err[-300:]}
        r = json.loads(m.group(1))
        r["wall_s"] = time.perf_counter() - t0
        return cfg, r

    out = {}
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for cfg, r in ex.map(one, configs):
            out["/".join(cfg)] = r
            pk = r.get("peak_bytes")
            log(f"  mem {'/'.join(cfg):45s} "
                + (f"{pk / 2**20:9.2f} MiB" if pk is not None else r.get("error", "?")))
    return out


# =============================================================================================
# accuracy for time, refinement
# =============================================================================================
def _completeness_error(values, fx_minus_fb) -> float:
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    s = v.reshape(v.shape[0], -1).sum(1)
    d = np.asarray(fx_minus_fb, dtype=np.float64)
    return float(np.mean(np.abs(s - d) / np.abs(d)))


def _ig_pair(fw: str, model: str, device: str):
    """(ours(steps), theirs(steps), values_of, f(x)-f(b), sync, rule text) for one model."""
    import numpy as np

    import _models
    import nbexplain

    t_np = _models.targets(model)
    if fw == "torch":
        import torch
        from captum.attr import IntegratedGradients

        tm = _models.torch_model(model, device)
        x = torch.from_numpy(_models.inputs(model)).to(device)
        t = torch.from_numpy(t_np).to(device)
        with torch.no_grad():
            f = tm(torch.cat([x, torch.zeros_like(x)])).gather(
                1, torch.cat([t, t])[:, None])[:, 0].cpu().numpy()
        ours = lambda s: nbexplain.attribute(tm, x, method="integrated_gradients",  # noqa
                                             target=t_np, steps=s, rule="gausslegendre")
        theirs = lambda s: IntegratedGradients(tm).attribute(  # noqa: E731
            x, target=t, n_steps=s, method="gausslegendre")
        vals = {"ours": lambda r: r.values, "theirs": lambda r: r.detach().cpu().numpy()}
        sync = _torch_sync(device)
        ours_steps = lambda s: s  # noqa: E731
        rule = "gausslegendre; Captum without delta"
    else:
        import tensorflow as tf

        km = _models.keras_model(model)
        x = tf.constant(_models.to_keras_layout(_models.inputs(model)))
        t = tf.constant(t_np)
        out = np.asarray(km(tf.concat([x, tf.zeros_like(x)], 0)))
        f = out[np.arange(2 * len(t_np)), np.concatenate([t_np, t_np])]
        ig = tutorial_ig(km)
        b = tf.zeros_like(x)
        ours = lambda s: nbexplain.attribute(km, x, method="integrated_gradients",  # noqa
                                             target=t_np, steps=s + 1,
                                             rule="riemann_trapezoid")
        theirs = lambda s: ig(b, x, t, m_steps=s)  # noqa: E731
        vals = {"ours": lambda r: r.values, "theirs": lambda r: np.asarray(r)}
        sync = _tf_sync()
        ours_steps = lambda s: s + 1  # noqa: E731
        rule = "riemann_trapezoid (steps = intervals); tutorial without delta"
    n = len(t_np)
    return ours, theirs, vals, f[:n] - f[n:], sync, rule


def accuracy_for_time(fw: str, model: str, device: str, repeats: int, steps_list) -> dict:
    ours, theirs, vals, d, sync, rule = _ig_pair(fw, model, device)
    s_ = lambda out: sync(out)  # noqa: E731
    rows = []
    loads = []
    for s in steps_list:
        row = {"steps": s}
        fns = {}
        for who, fn in (("ours", ours), ("theirs", theirs)):
            _, out = timed(lambda: fn(s), s_)   # warm-up (tf.function traces per shape)
            row[who] = {"error": _completeness_error(vals[who](out), d)}
            fns[who] = (lambda f: lambda: timed(lambda: f(s), s_)[0])(fn)
        ts, info = run_rounds(fns, repeats)
        loads.append(info)
        for who in fns:
            row[who]["time"] = statistics.median(ts[who])
        rows.append(row)
    # equal budget: Captum's / the tutorial's time at 64 steps; ours gets the steps that fit
    # (a + b·steps fitted on the grid above), then is run and measured at that step count
    ref = next((r for r in rows if r["steps"] == 64), rows[-1])
    budget = ref["theirs"]["time"]
    xs = [r["steps"] for r in rows]
    ys = [r["ours"]["time"] for r in rows]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    b = sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)
    a = my - b * mx
    fit = max(2, int((budget - a) / b)) if b > 0 else ref["steps"]
    _, out = timed(lambda: ours(fit), s_)
    err = _completeness_error(vals["ours"](out), d)
    ts, info = run_rounds({"ours": lambda: timed(lambda: ours(fit), s_)[0]}, repeats)
    loads.append(info)
    equal = {"budget": budget, "theirs_steps": ref["steps"],
             "theirs_error": ref["theirs"]["error"], "ours_steps": fit,
             "ours_time": statistics.median(ts["ours"]), "ours_error": err}
    return {"fw": fw, "model": model, "rule": rule, "rows": rows, "equal_budget": equal,
            "contention": loads}


def refinement(fw: str, model: str, device: str, repeats: int, n: int = REFINE_N) -> dict:
    """Time of one progressive refinement (n intervals -> 2n: n new path points) vs a plain
    n-step ``attribute`` call and vs the bare n-point gradient sum, same batch."""
    import numpy as np

    import _models
    import nbexplain
    from nbexplain.backends import get_adapter
    from nbexplain.methods.integrated_gradients import (integrated_gradients_progressive,
                                                        make_baseline, path_gradient_sum)

    t_np = _models.targets(model)
    if fw == "torch":
        import torch

        m = _models.torch_model(model, device)
        x_in = torch.from_numpy(_models.inputs(model)).to(device)
        sync = _torch_sync(device)
    else:
        import tensorflow as tf

        m = _models.keras_model(model)
        x_in = tf.constant(_models.to_keras_layout(_models.inputs(model)))
        sync = _tf_sync()
    s_ = lambda out: sync(out)  # noqa: E731
    adapter = get_adapter(m)
    x = adapter.as_tensor(x_in)
    b = make_baseline(adapter, x, 0.0)
    new_a = (2 * np.arange(n) + 1) / (2 * n)

    def refine_step():
        gen = integrated_gradients_progressive(adapter, x, t_np, start_steps=n + 1,
                                               max_steps=2 * n + 1, rule="riemann_trapezoid")
        next(gen)                       # n intervals (n + 1 points): not timed
        sync(None)
        t0 = time.perf_counter()
        est = next(gen)                 # 2n intervals: the n new midpoints
        sync(est)
        return time.perf_counter() - t0, est

    plain = lambda: nbexplain.attribute(m, x_in, method="integrated_gradients",  # noqa: E731
                                        target=t_np, steps=n, rule="riemann_trapezoid")
    bare = lambda: path_gradient_sum(adapter, x, b, new_a, np.ones(n), t_np, None)  # noqa
    _, est = refine_step()
    evals = (est.steps, est.evaluations)
    timed(plain, s_)
    timed(bare, s_)
    ts, info = run_rounds({"refine": lambda: refine_step()[0],
                           "plain": lambda: timed(plain, s_)[0],
                           "bare": lambda: timed(bare, s_)[0]}, repeats)
    tr, tp, tb = ts["refine"], ts["plain"], ts["bare"]
    r, p, bb = statistics.median(tr), statistics.median(tp), statistics.median(tb)
    return {"fw": fw, "model": model, "n": n, "refine": _stats(tr), "plain": _stats(tp),
            "bare": _stats(tb), "ratio_plain": r / p, "ratio_bare": r / bb,
            "points_after": evals, "contention": info}


# =============================================================================================
# worker entry points
# =============================================================================================
def worker_time(args) -> dict:
    quick = args.quick
    models = [m for m in args.models if m in MODELS]
    out: dict = {"groups": [], "accuracy": [], "refinement": [], "versions": versions(args.fw)}
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if args.fw == "keras":
        import _models

        out["parity"] = {m: _models.check_parity(m) for m in models}
    for model in models:
        big = model == "resnet"
        reps = (1 if quick else 3) if big else (5 if quick else 20)
        warm = 2
        for method in METHODS[model]:
            t0 = time.perf_counter()
            try:
                g = make_group(args.fw, model, method, args.device)
                r = time_group(g, reps, warm)
            except Exception as e:
                r = {"fw": args.fw, "model": model, "method": method, "impls": {},
                     "comparisons": [], "errors": {"setup": f"{type(e).__name__}: {e}"}}
            out["groups"].append(r)
            log(f"  time {args.fw}/{model}/{method}: "
                + ", ".join(f"{k} {v['time']['median'] * 1e3:.1f} ms" for k, v in
                            r["impls"].items() if "time" in v)
                + (f"  ERRORS {r['errors']}" if r["errors"] else "")
                + f"  [{time.perf_counter() - t0:.0f} s]")
            gc.collect()
    if not args.no_extras:
        steps = ACC_STEPS if not quick else ACC_STEPS[:3]
        for model in [m for m in ACC_MODELS if m in models]:
            t0 = time.perf_counter()
            try:
                out["accuracy"].append(accuracy_for_time(args.fw, model, args.device,
                                                         3 if quick else 7, steps))
            except Exception as e:
                out["accuracy"].append({"fw": args.fw, "model": model,
                                        "error": f"{type(e).__name__}: {e}"})
            log(f"  accuracy-for-time {args.fw}/{model} [{time.perf_counter() - t0:.0f} s]")
        for model in models:
            if model == "resnet" and quick:
                continue
            t0 = time.perf_counter()
            try:
                out["refinement"].append(refinement(
                    args.fw, model, args.device, 2 if model == "resnet" else (3 if quick else 10),
                    n=16 if model == "resnet" else REFINE_N))
            except Exception as e:
                out["refinement"].append({"fw": args.fw, "model": model,
                                          "error": f"{type(e).__name__}: {e}"})
            log(f"  refinement {args.fw}/{model} [{time.perf_counter() - t0:.0f} s]")
    return out


def versions(fw: str) -> dict:
    v = {"python": platform.python_version()}
    import numpy

    v["numpy"] = numpy.__version__
    import torch

    v["torch"] = torch.__version__
    if fw == "torch":
        import captum

        v["captum"] = captum.__version__
    else:
        import keras
        import tensorflow as tf

        v["tensorflow"] = tf.__version__
        v["keras"] = keras.__version__
    return v


# =============================================================================================
# report
# =============================================================================================
def machine_info(device: str) -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "loadavg_start": _loadavg(), "commit": _commit(),
            "python": platform.python_version(), "device": device}
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["ram_gib"] = round(kb / 2**20, 1)
    except Exception:
        pass
    return info


def _commit() -> str:
    """The checkout's commit, marked '+changes' when nbexplain/ has uncommitted edits."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "nbexplain"], cwd=ROOT,
                               text=True, capture_output=True, timeout=10).stdout.strip()
        return (sha or "?") + (" + uncommitted changes in nbexplain/" if dirty else "")
    except Exception:
        return "?"


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def _ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def _mib(b) -> str:
    if b is None:
        return "—"
    m = b / 2**20
    return f"{m:.2f}" if abs(m) < 10 else f"{m:.0f}"


def _timing_cell(t: dict) -> str:
    return f"{_ms(t['median'])} [{_ms(t['min'])}–{_ms(t['max'])}]"


NOISE_BYTES = 1 << 20   # CPU peaks below this are at the RSS page-accounting noise floor


def build_report(results: dict, mem: dict, info: dict, args, elapsed: float) -> tuple[str, list]:
    L: list[str] = []
    verdicts: list[dict] = []
    date = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    vers = {}
    for fw, r in results.items():
        vers.update(r.get("versions", {}))
    cuda = args.device.startswith("cuda")
    L.append(SECTION)
    L.append("")
    L.append(f"Measured {date} by `benchmarks/bench_gradients.py"
             + (" --quick" if args.quick else "")
             + (f" --only {args.only}" if args.only else "")
             + (f" --device {args.device}" if args.device != "cpu" else "") + "`"
             + f" on nbexplain commit {info.get('commit', '?')} (whole run "
             f"{elapsed / 60:.1f} min).")
    L.append("")
    L.append(f"- Machine: {info['platform']}; CPU: {info['cpu']}, {info['cores']} cores"
             + (f", {info['ram_gib']} GiB RAM" if "ram_gib" in info else "")
             + f"; device: {args.device}.")
    L.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(vers.items())) + ".")
    if not cuda:
        L.append("- **GPU numbers are pending**: this run was on the CPU only. "
                 "`--device cuda` runs the same script on a GPU (timings wrapped in "
                 "`torch.cuda.synchronize()`, memory from `torch.cuda.max_memory_allocated`).")
    import _models

    nb = _models.BATCH["cnn"]
    L.append(f"- Batches: small CNN and MLP {nb} example{'' if nb == 1 else 's'}, "
             "ResNet-18-like 1 example; explicit int "
             "targets (one per example), baseline 0. Times are per call, median [min–max] "
             "over the repeats after two warm-up calls (20 rounds, ResNet 3; faster calls more, up to "
             f"{MAX_REPEATS} rounds or about {ROUND_BUDGET_S:.0f} s per group); calls of the "
             "compared implementations are interleaved, each round in another order (every "
             "implementation follows every other one equally often). "
             + ("Peak memory: the increase of peak RSS over the RSS just before a call, "
                "after one warm-up call (median of 3 calls, ResNet 2, `--quick` 1), each "
                "configuration in a fresh subprocess, glibc "
                "`MALLOC_MMAP_THRESHOLD_=65536` so freed tensors leave RSS; values below "
                "1 MiB are at the page-accounting noise floor. TensorFlow runs with "
                "`TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1` there (its default oneDNN allocator pools "
                "freed memory, which would hide a warmed-up call's peak)."
                if not cuda else
                "Peak memory: `max_memory_allocated` above the pre-call allocation."))
    L.append("- nbexplain computes IG's completeness delta by default (one extra forward pass "
             "on x and the baseline, unless the rule's points include both ends); the "
             "like-for-like peer row computes it too (Captum `return_convergence_delta=True`; "
             "the TF tutorial's `f(input) − f(baseline)` check), and a second row shows the "
             "peer without it. `delta=False` skips it: the floor table shows that call too.")
    L.append("- Targets (issue 3): time ≤ 0.8× the peer on the small CNN and the MLP, ≤ 1.0× "
             "on the ResNet-like model, and peak memory ≤ the peer's. The issue states them "
             "against Captum; the Keras rows are judged against the tutorial code by the same "
             "thresholds.")
    L.append("")
    L.append("### Speed and memory")
    L.append("")
    L.append("| fw | model | method (rule) | peer | nbexplain ms | peer ms | time ratio | "
             "nbexplain MiB | peer MiB | mem ratio | agree | time | mem |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    import _models

    for fw, r in results.items():
        for g in r.get("groups", []):
            model, method = g["model"], g["method"]
            mtitle = f"{_models.TITLES[model]} (N={_models.BATCH[model]})"
            meth = f"{METHOD_SHORT[method]} ({g.get('rule', '')})"
            if not g["comparisons"]:
                L.append(f"| {fw} | {mtitle} | {meth} | — | ERROR: {g['errors']} |"
                         + " |" * 8)
                verdicts.append({"row": f"{fw}/{model}/{method}", "time": "ERROR",
                                 "mem": "ERROR"})
                continue
            for ours, theirs, note in g["comparisons"]:
                io, it = g["impls"][ours], g["impls"][theirs]
                peer = it["label"] + (f" — {note}" if note else "")
                mo = mem.get(f"{fw}/{model}/{method}/{ours}", {}).get("peak_bytes")
                mt = mem.get(f"{fw}/{model}/{method}/{theirs}", {}).get("peak_bytes")
                if "time" not in io or "time" not in it:
                    errs = "; ".join(f"{k}: {v}" for k, v in g["errors"].items())
                    L.append(f"| {fw} | {mtitle} | {meth} | {peer} | ERROR | "
                             f"{_timing_cell(it['time']) if 'time' in it else 'ERROR'} | — | "
                             f"— | {_mib(mt)} | — | — | **ERROR** | **ERROR** |")
                    L.append(f"|  |  |  | ↳ `{errs[:300]}` | | | | | | | | | |")
                    verdicts.append({"row": f"{fw}/{model}/{method} vs {theirs}",
                                     "time": "ERROR", "mem": "ERROR", "error": errs})
                    continue
                ratio = io["time"]["median"] / it["time"]["median"]
                tgt = TIME_TARGET[model]
                tv = "PASS" if ratio <= tgt else "MISS"
                ci = _ratio_ci(io["time"]["all"], it["time"]["all"])
                if ci is not None and ci[0] <= tgt <= ci[1]:
                    tv += " (target within the 95% interval)"
                if mo is not None and mt is not None:
                    mratio = (mo / mt) if mt > 0 else float("inf") if mo > 0 else 1.0
                    so = mem.get(f"{fw}/{model}/{method}/{ours}", {}).get("samples") or [mo]
                    st = mem.get(f"{fw}/{model}/{method}/{theirs}", {}).get("samples") or [mt]
                    spread = max(max(so) - min(so), max(st) - min(st))
                    mv = "PASS" if mo <= mt else (
                        f"MISS (+{(mo - mt) / 2**20:.2f} MiB, "
                        f"+{100 * (mo - mt) / max(mt, 1):.2f}%"
                        + ("; within the samples' spread" if mo - mt <= spread else "") + ")")
                    if max(mo, mt) < NOISE_BYTES and not cuda:
                        mv += " (noise floor)"
                    mr = f"{mratio:.2f}" if mt > 0 else "—"
                else:
                    mv, mr = "n/a", "—"
                ag = it.get("agreement")
                agc = "—" if ag is None else f"{ag:.0e}"
                if g.get("contention", {}).get("contended_kept"):
                    tv += " †"
                info_row = note == "informational"
                if info_row:
                    tv, mv = f"({tv})", f"({mv})"
                L.append(f"| {fw} | {mtitle} | {meth} | {peer} | {_timing_cell(io['time'])} | "
                         f"{_timing_cell(it['time'])} | {ratio:.2f} (≤ {tgt})"
                         + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci is not None else "")
                         + f" | {_mib(mo)} | "
                         f"{_mib(mt)} | {mr} | {agc} | {'**' + tv + '**'} | "
                         f"{'**' + mv + '**'} |")
                if info_row:
                    continue
                verdicts.append({"row": f"{fw}/{model}/{method} vs {theirs}", "time": tv,
                                 "mem": mv, "ratio": ratio, "mem_ratio": mr})
    L.append("")
    L.append("`agree`: max |ours − peer| / max |peer| of the attributions in the same run "
             "(a check that both compute the same thing). Times in ms, memory in MiB. "
             "`time ratio`: median of ours / median of the peer's, then in brackets the 95% "
             "bootstrap interval of the median of the per-round paired ratios (each round "
             "runs the implementations back to back); a verdict whose interval contains the "
             "target is marked: on this shared machine it can go either way between runs.")
    cont = []
    for r in results.values():
        for g in r.get("groups", []):
            if g.get("contention"):
                cont.append(g["contention"])
        for a in r.get("accuracy", []):
            cont.extend(a.get("contention", []))
        for a in r.get("refinement", []):
            if a.get("contention"):
                cont.append(a["contention"])
    if cont:
        disc = sum(c["discarded_blocks"] for c in cont)
        kept = sum(c["kept_blocks"] for c in cont)
        ck = sum(c.get("contended_kept", 0) for c in cont)
        mean = statistics.mean(c["others_load_mean"] for c in cont)
        mx = max(c["others_load_max"] for c in cont)
        L.append("")
        L.append(f"Contention check: timing rounds run in blocks of ≥ {BLOCK_S * 1e3:.0f} ms; "
                 f"a block during which other processes used > {CONTENDED} cores (from "
                 f"/proc/stat) is discarded and re-run, within a retry budget. This run: "
                 f"{disc} block(s) discarded, {kept} kept ({ck} of them contended, kept when "
                 f"the retry budget ran out); other processes' CPU during kept blocks: mean "
                 f"{mean:.2f}, "
                 f"max {mx:.2f} cores (†: a row timed partly under contention). "
                 "Load average at start / end: "
                 f"{info.get('loadavg_start', '?')} / {info.get('loadavg_end', '?')}.")
    floors = []
    for fw, r in results.items():
        for g in r.get("groups", []):
            fl = g["impls"].get("floor", {})
            if "time" not in fl and fw == "keras" and "tutorial" in g["impls"] and g[
                    "method"] in ("saliency", "grad_cam"):
                # the peer is itself the hand-written tape in one tf.function: the floor
                fl = dict(g["impls"]["tutorial"], label="the peer (hand-written, tf.function)")
            if "time" not in fl or not g["comparisons"]:
                continue
            # the peer without delta (the last comparison that is not informational)
            theirs = [c for c in g["comparisons"] if c[2] != "informational"][-1][1]
            it, io = g["impls"][theirs], g["impls"]["ours"]
            if "time" not in it:
                continue
            f_, p_ = fl["time"]["median"], it["time"]["median"]
            o_ = io["time"]["median"] if "time" in io else None
            tgt = TIME_TARGET[g["model"]]
            nd = g["impls"].get("ours_nodelta", {})
            nd_cell = (f" (delta=False: {nd['time']['median'] / f_:.2f})" if "time" in nd
                       else "")
            floors.append(f"| {fw} | {_models.TITLES[g['model']]} | "
                          f"{METHOD_SHORT[g['method']]} | {fl['label']} | {_ms(f_)} | "
                          f"{it['label']}: {_ms(p_)} | {f_ / p_:.2f} | "
                          + ("yes" if f_ / p_ <= tgt else f"**no** (> {tgt})") + " | "
                          + (f"{o_ / f_:.2f}" if o_ else "—") + nd_cell + " |")
    if floors:
        L.append("")
        L.append("Lower bound of the peer's work: the passes the peer makes (IG: all path "
                 "points in one pass; Grad-CAM: the whole forward pass recorded for autograd) "
                 "written by hand with no input checks, no options and no delta, timed in the "
                 "same interleaved loop. `floor / peer` is the best time ratio an "
                 "implementation doing the peer's work could reach (a target above it is "
                 "reachable only with less or cheaper work); `nbexplain / floor` below 1 is "
                 "where nbexplain does cheaper work (IG in bounded passes that stay in cache; "
                 "Grad-CAM recording the graph only from the layer on), above 1 its overhead.")
        L.append("")
        L.append("| fw | model | method | hand-written | floor ms | peer ms | floor / peer | "
                 "target reachable | nbexplain / floor |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        L.extend(floors)
    # accuracy for time
    acc = [a for r in results.values() for a in r.get("accuracy", [])]
    if acc:
        L.append("")
        L.append("### Accuracy for time (IG completeness error)")
        L.append("")
        L.append("Completeness error = mean over examples of |Σ attr − (f(x) − f(b))| / "
                 "|f(x) − f(b)|. The ReLU models' gradients are piecewise constant, so the "
                 "error need not fall steadily with the steps (captum#1334).")
        L.append("")
        L.append("| fw | model | rule | steps | nbexplain ms | nbexplain error | peer ms | "
                 "peer error |")
        L.append("|---|---|---|---|---|---|---|---|")
        for a in acc:
            if "error" in a:
                L.append(f"| {a['fw']} | {a['model']} | | ERROR: `{a['error'][:200]}` | | | | |")
                continue
            for row in a["rows"]:
                o, t = row["ours"], row["theirs"]
                L.append(f"| {a['fw']} | {_models.TITLES[a['model']]} | {a['rule']} | "
                         f"{row['steps']} | {_ms(o['time'])} | {o['error']:.2e} | "
                         f"{_ms(t['time'])} | {t['error']:.2e} |")
        L.append("")
        L.append("Equal time budget: the peer's time at 64 steps; nbexplain gets the step "
                 "count that fits the budget (from a linear fit of its times above), run and "
                 "measured:")
        L.append("")
        L.append("| fw | model | budget ms | peer steps | peer error | nbexplain steps | "
                 "nbexplain ms | nbexplain error |")
        L.append("|---|---|---|---|---|---|---|---|")
        for a in acc:
            if "error" in a:
                continue
            e = a["equal_budget"]
            over = e["ours_time"] > 1.1 * e["budget"]
            L.append(f"| {a['fw']} | {_models.TITLES[a['model']]} | {_ms(e['budget'])} | "
                     f"{e['theirs_steps']} | {e['theirs_error']:.2e} | {e['ours_steps']}"
                     + (" (minimum: no step count fits the budget)" if over else "") + " | "
                     f"{_ms(e['ours_time'])} | {e['ours_error']:.2e} |")
    ref = [a for r in results.values() for a in r.get("refinement", [])]
    if ref:
        L.append("")
        L.append("### Progressive IG refinement")
        L.append("")
        L.append("One `integrated_gradients_progressive` refinement, riemann_trapezoid from "
                 "n to 2n intervals (n new path points), vs a plain `attribute(..., steps=n, "
                 "rule='riemann_trapezoid')` call (n points + delta) and vs the bare n-point "
                 "gradient sum (`path_gradient_sum`), same batch, calls interleaved. "
                 "Target: refinement ≤ 1.1× the plain pass.")
        L.append("")
        L.append("| fw | model | n | refinement ms | plain pass ms | bare sum ms | "
                 "refine / plain | refine / bare | target |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for a in ref:
            if "error" in a:
                L.append(f"| {a['fw']} | {a['model']} | | ERROR: `{a['error'][:200]}` | | | | "
                         "| **ERROR** |")
                verdicts.append({"row": f"{a['fw']}/{a['model']}/refinement",
                                 "time": "ERROR", "error": a["error"]})
                continue
            v = "PASS" if a["ratio_plain"] <= 1.1 else "MISS"
            verdicts.append({"row": f"{a['fw']}/{a['model']}/refinement", "time": v,
                             "ratio": a["ratio_plain"]})
            L.append(f"| {a['fw']} | {_models.TITLES[a['model']]} | {a['n']} | "
                     f"{_timing_cell(a['refine'])} | {_timing_cell(a['plain'])} | "
                     f"{_timing_cell(a['bare'])} | {a['ratio_plain']:.2f} | "
                     f"{a['ratio_bare']:.2f} | **{v}** |")
    par = {m: v for r in results.values() for m, v in r.get("parity", {}).items()}
    if par:
        L.append("")
        L.append("Keras copies vs torch originals, max |Δlogit| / max |logit| on the batch: "
                 + ", ".join(f"{_models.TITLES[m]} {v:.1e}" for m, v in par.items()) + ".")
    L.append("")
    return "\n".join(L), verdicts


def write_docs(section: str, path: Path) -> None:
    """Replace (or add, at the top) only this benchmark's section; keep every other section,
    and the hand-written notes at the end of this one (from NOTES_MARK on)."""
    text = path.read_text() if path.exists() else ""
    body = section.rstrip() + "\n"
    if SECTION in text:
        start = text.index(SECTION)
        m = re.compile(r"^## ", re.M).search(text, start + len(SECTION))
        end = m.start() if m else len(text)
        notes_at = text.find(NOTES_MARK, start, end)
        if notes_at >= 0:
            body += "\n" + text[notes_at:end].rstrip("\n") + "\n"
        text = text[:start] + body + ("\n" if m else "") + text[end:]
    else:
        m = re.match(r"(# [^\n]*\n+)", text)
        if m:
            text = text[:m.end()] + body + "\n" + text[m.end():]
        elif text.strip():
            text = "# Benchmarks\n\n" + body + "\n" + text
        else:
            text = "# Benchmarks\n\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# =============================================================================================
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller step grid")
    ap.add_argument("--only", choices=("torch", "keras"), help="one framework only")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (torch models)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of " + ",".join(MODELS))
    ap.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    ap.add_argument("--no-extras", action="store_true",
                    help="skip accuracy-for-time and refinement")
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    ap.add_argument("--mem-jobs", type=int, default=1,
                    help="memory subprocesses run concurrently (default 1: nbexplain's torch "
                         "adapter times a memory-format probe, which a concurrent job could "
                         "sway)")
    ap.add_argument("--json", help="also write the raw results to this JSON file")
    ap.add_argument("--batch", type=int, help="examples per call for the small CNN and the MLP "
                    "(the ResNet stays at 1); its own section in docs/benchmarks.md")
    ap.add_argument("--threads", type=int, help="CPU threads for torch and TensorFlow (default: "
                    "theirs); its own section in docs/benchmarks.md")
    # internal
    ap.add_argument("--worker", choices=("time", "mem"), help=argparse.SUPPRESS)
    ap.add_argument("--fw", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--impl", help=argparse.SUPPRESS)
    ap.add_argument("--samples", type=int, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--no-warmup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if (args.batch or args.threads) and not args.worker and (
            str(args.batch or "") != _BATCH_ENV or str(args.threads or "") != THREADS):
        # run again with the settings in the environment: every worker then reads them
        env = dict(os.environ, NBX_BENCH_BATCH=str(args.batch or ""),
                   NBX_BENCH_THREADS=str(args.threads or ""))
        return subprocess.call([sys.executable, str(Path(__file__).resolve())]
                               + list(argv if argv is not None else sys.argv[1:]), env=env)

    if args.worker == "mem":
        r = measure_memory(args.fw, args.model, args.method, args.impl, args.device,
                           args.samples, warmup=not args.no_warmup)
        print("RESULT " + json.dumps(r), flush=True)
        return 0
    if args.worker == "time":
        r = worker_time(args)
        Path(args.out).write_text(json.dumps(r))
        return 0

    t_start = time.perf_counter()
    log = lambda s: print(s, flush=True)  # noqa: E731
    info = machine_info(args.device)
    log(f"machine: {info}")
    fws = [args.only] if args.only else ["torch", "keras"]
    results: dict = {}
    with tempfile.TemporaryDirectory() as td:
        for fw in fws:   # each framework's timings in its own process, nothing else running
            outp = Path(td) / f"{fw}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "time",
                   "--fw", fw, "--device", args.device, "--models", ",".join(args.models),
                   "--out", str(outp)] + (["--quick"] if args.quick else []) \
                + (["--no-extras"] if args.no_extras else [])
            log(f"[{time.perf_counter() - t_start:5.0f} s] timing {fw} ...")
            errlog = Path(td) / f"{fw}.stderr"
            with open(errlog, "w") as ef:
                p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
                for line in p.stderr:   # progress lines from the worker
                    ef.write(line)
                    if line.startswith("  "):
                        log(line.rstrip())
                p.wait()
            if p.returncode != 0 or not outp.exists():
                tail = errlog.read_text().strip().splitlines()[-15:]
                log(f"  {fw} timing worker failed:\n    " + "\n    ".join(tail))
                results[fw] = {"groups": [], "error": "\n".join(tail)}
                continue
            results[fw] = json.loads(outp.read_text())
    mem: dict = {}
    if not args.no_memory:
        configs = []
        for fw in fws:
            for g in results[fw].get("groups", []):
                for name in g["impls"]:
                    if ("time" in g["impls"][name] and not g["impls"][name].get("floor")
                            and not g["impls"][name].get("variant")):
                        configs.append((fw, g["model"], g["method"], name))
        log(f"[{time.perf_counter() - t_start:5.0f} s] memory: {len(configs)} configurations, "
            "each in a fresh subprocess ...")
        mem = run_memory_configs(configs, args.device, args.quick, max(1, args.mem_jobs), log)
    elapsed = time.perf_counter() - t_start
    info["loadavg_end"] = _loadavg()
    report, verdicts = build_report(results, mem, info, args, elapsed)
    print()
    print(report)
    print("Summary:")
    for v in verdicts:
        print(f"  {v['row']:45s} time {v.get('time')}"
              + (f" ({v['ratio']:.2f})" if isinstance(v.get("ratio"), float) else "")
              + (f"   mem {v['mem']} ({v.get('mem_ratio')})" if "mem" in v else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"info": info, "results": results, "memory": mem,
                                               "verdicts": verdicts}, indent=1, default=str))
    if not args.no_docs:
        write_docs(report, ROOT / "docs" / "benchmarks.md")
        print(f"wrote the '{SECTION}' section of {ROOT / 'docs' / 'benchmarks.md'}")
    print(f"total {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
