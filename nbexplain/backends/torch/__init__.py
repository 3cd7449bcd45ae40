"""PyTorch backend: ``TorchAdapter`` for an ``nn.Module`` or any callable on torch tensors.

The package is split by responsibility; each submodule imports only those listed after it:

* ``adapter``: ``TorchAdapter`` itself (conversion, evaluation, input gradients, array ops);
* ``layers``: layer methods (Grad-CAM): finding a layer, capturing its output and gradient;
* ``memory_format``: the passes in the model's own memory format (``_tuned``);
* ``flatten_hook``: the ``nn.Flatten`` pre-hooks that keep channels_last gradients;
* ``engine``: the direct call of the autograd engine (``_engine_grad``, state ``_ENGINE``);
* ``scan``: the model scan (``_scan_model``) and the tables of layer types.

Module-level state lives in its own submodule only (``engine._ENGINE``,
``layers._CLONE_LAYER_OUTPUT``): assign to it there.
"""

from .adapter import TorchAdapter
from .engine import _engine_grad  # noqa: F401
from .flatten_hook import _flatten_grad_hooks  # noqa: F401
from .memory_format import model_channels_last  # noqa: F401
from .scan import _scan_model  # noqa: F401

__all__ = ["TorchAdapter"]
