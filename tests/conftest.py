import numpy as np
import pytest

# Fixtures that several test modules share, defined once (modules take them by name, without
# importing; a module's own fixture of the same name overrides them): ``cnn`` and ``xb`` in
# torch_cnn, the scikit-learn data of the dataset methods in sklearn_data.
pytest_plugins = ["torch_cnn", "sklearn_data"]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def model_state_snapshot(model):
    """Everything nbexplain promises not to touch on a torch model."""
    import torch

    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "params": [p.detach().clone() for p in model.parameters()],
        "buffers": [b.clone() for b in model.buffers()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks),
                   len(getattr(m, "_backward_pre_hooks", {}))) for m in model.modules()],
        "global_hooks": torch.nn.modules.module._global_forward_hooks.copy(),
    }


def assert_same_state(before, after):
    import torch

    assert before["training"] == after["training"]
    assert before["requires_grad"] == after["requires_grad"]
    for a, b in zip(before["grad"], after["grad"]):
        assert (a is None and b is None) or torch.equal(a, b)
    for a, b in zip(before["params"], after["params"]):
        assert torch.equal(a, b)
    for a, b in zip(before["buffers"], after["buffers"]):
        assert torch.equal(a, b)
    assert before["hooks"] == after["hooks"]
    assert before["global_hooks"].keys() == after["global_hooks"].keys()


def pytest_terminal_summary(terminalreporter):
    """How long each notebook took to run (tests/package/test_notebooks.py)."""
    import sys

    mod = sys.modules.get("test_notebooks") or next(
        (m for name, m in sys.modules.items() if name.endswith("test_notebooks")), None)
    durations = getattr(mod, "DURATIONS", None)
    if durations:
        terminalreporter.write_sep("-", "notebook run times (nbclient, this machine)")
        for name, secs in sorted(durations.items()):
            terminalreporter.write_line(f"{name:<14} {secs:6.1f} s")
