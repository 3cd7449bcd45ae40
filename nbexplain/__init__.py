"""nbexplain: explain PyTorch and TensorFlow/Keras models inside the notebook.

Public names only. Importing nbexplain imports neither torch nor TensorFlow: the adapter for a
framework is loaded only when a model of that framework is passed in.
"""

from ._attribution import Attribution
from ._errors import NBExplainError
from ._api import attribute, attribute_progressive, explain, explain_global, show
from .methods.partial_dependence import partial_dependence
from .methods.permutation_importance import permutation_importance
from .methods import available_methods

__all__ = ["Attribution", "NBExplainError", "attribute", "attribute_progressive", "explain",
           "explain_global", "show", "available_methods", "permutation_importance", "partial_dependence"]
__version__ = "0.1.0"
