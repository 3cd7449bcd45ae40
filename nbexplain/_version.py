"""The one version source: pyproject.toml reads it (hatch's dynamic version), and
``nbexplain.__version__`` imports it."""

__version__ = "0.1.0"
