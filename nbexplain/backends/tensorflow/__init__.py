"""TensorFlow backend: ``TensorFlowAdapter`` for a Keras 3 ``Model``, a ``tf.Module``, or any
callable on TF tensors.

The package is split by responsibility; each submodule imports only those listed after it:

* ``adapter``: ``TensorFlowAdapter`` itself (setup and layout, conversion, evaluation, eager
  input gradients, array ops);
* ``layers``: layer methods (layer discovery, ``_call_capturing``, sub-models, Grad-CAM's
  layer gradients);
* ``compiled``: the tf.function paths and their cache ``_COMPILED`` (``_compiled``,
  ``_run_compiled``, ``path_gradient_chunk``, ``integrated_gradients_whole``,
  ``_compiled_layer``);
* ``keras_info``: what is read from Keras models and layers (graphs, children, formats,
  variables);
* ``util``: small helpers (device names, a captured layer output, shared messages).
"""

from .adapter import TensorFlowAdapter
from .compiled import _COMPILED  # noqa: F401

__all__ = ["TensorFlowAdapter"]
