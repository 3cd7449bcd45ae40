"""Keras 3 on every backend it runs on here: a model on the torch backend is recognised as
Keras (its layout N×H×W×C, its layers Keras layers) before it is taken for a torch module,
and its twin on the TensorFlow backend (the same weights) gives the same attributions for
every gradient method, Grad-CAM, occlusion and Shapley; so does its twin on the JAX backend
(gradients through jax.value_and_grad). The backend is fixed when keras is
first imported, so each runs in its own subprocess. Other backends are refused by name."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("keras")

SCRIPT = r'''
import os, sys
os.environ["KERAS_BACKEND"] = sys.argv[1]
import numpy as np, keras, nbexplain
rng = np.random.default_rng(0)
inp = keras.Input((8, 8, 3))
h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
h = keras.layers.MaxPooling2D()(h)
out = keras.layers.Dense(3, name="fc")(keras.layers.Flatten()(h))
m = keras.Model(inp, out)
for layer in m.layers:
    ws = layer.get_weights()
    if ws:
        layer.set_weights([rng.normal(size=w.shape).astype("float32") * 0.3 for w in ws])
x = np.random.default_rng(1).random((2, 8, 8, 3)).astype("float32")
res = {}
for name, opts in [("saliency", {}), ("input_x_gradient", {}),
                   ("integrated_gradients", {"steps": 16}), ("smoothgrad", {"samples": 4}),
                   ("grad_cam", {"layer": "conv"}), ("grad_cam_pp", {}),
                   ("occlusion", {"window": (2, 2, 3)}),
                   ("shapley", {"samples": 512, "seed": 0, "estimator": "permutation"})]:
    res[name] = np.asarray(nbexplain.attribute(m, x, method=name, target=1, **opts).values)
# tokens through an embedding (layer attribution: the layer's output replaced on the path),
# and a Sequential model
seq = keras.Sequential([keras.Input((6,), dtype="int32"), keras.layers.Embedding(20, 4, name="emb"),
                        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
for layer in seq.layers:
    ws = layer.get_weights()
    if ws:
        layer.set_weights([rng.normal(size=w.shape).astype("float32") for w in ws])
tokens = np.array([[1, 5, 7, 2, 0, 9], [3, 3, 8, 1, 4, 2]], dtype="int32")
res["layer_ig"] = np.asarray(nbexplain.attribute(seq, tokens, method="integrated_gradients",
                                                 layer="emb", target=1, steps=8).values)
res["tokens_shapley"] = np.asarray(nbexplain.attribute(
    seq, tokens, method="shapley", estimator="exact", target=0).values)
ad = nbexplain.backends.get_adapter(m)
res["layout"] = np.array([ad.channels_first])
res["adapter"] = np.array([type(ad).__name__])
np.savez(sys.argv[2], **res)
'''


def _run(backend: str, out: pathlib.Path) -> dict:
    script = out.parent / "twin.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": backend}
    r = subprocess.run([sys.executable, str(script), backend, str(out)], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return dict(np.load(out))


@pytest.fixture(scope="module")
def tf_twin(tmp_path_factory):
    return _run("tensorflow", tmp_path_factory.mktemp("tf") / "tf.npz")


@pytest.mark.parametrize("backend,adapter", [("torch", "KerasTorchAdapter"),
                                             ("jax", "KerasJaxAdapter")])
def test_keras_on_another_backend_equals_its_tensorflow_twin(tf_twin, tmp_path, backend,
                                                             adapter):
    pytest.importorskip(backend)
    tf_ = tf_twin
    th = _run(backend, tmp_path / f"{backend}.npz")
    assert str(th["adapter"][0]) == adapter and not bool(th["layout"][0])
    for name in ("saliency", "input_x_gradient", "integrated_gradients", "smoothgrad",
                 "grad_cam", "grad_cam_pp", "occlusion", "shapley", "layer_ig",
                 "tokens_shapley"):
        a, b = tf_[name], th[name]
        assert a.shape == b.shape, (name, a.shape, b.shape)
        err = np.abs(a - b).max() / max(np.abs(a).max(), 1e-12)
        assert err < 1e-4, f"{name}: relative error {err:.2e}"


def test_a_keras_backend_nbexplain_does_not_run_on_is_refused_by_name(monkeypatch):
    keras = pytest.importorskip("keras")
    import nbexplain
    from nbexplain import NBExplainError

    class OnOpenVino(keras.Model):      # a fresh class: nothing remembered about it
        def call(self, x):
            return x

    monkeypatch.setattr(keras.backend, "backend", lambda: "openvino")
    with pytest.raises(NBExplainError,
                       match="'openvino' backend.*'tensorflow', 'torch' and 'jax'"):
        nbexplain.attribute(OnOpenVino(), np.ones((2, 3), np.float32), target=0)
