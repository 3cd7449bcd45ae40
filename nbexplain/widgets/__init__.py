"""anywidget classes. Importing this module imports anywidget, never a model framework."""

from .explainer import Explainer

__all__ = ["Explainer"]
