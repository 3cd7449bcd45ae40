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
from .provenance import read_provenance

__all__ = ["Attribution", "NBExplainError", "attribute", "attribute_progressive", "explain",
           "explain_global", "show", "available_methods", "permutation_importance", "partial_dependence", "read_provenance"]
from ._version import __version__
