"""flexaqa: fitness Action Quality Assessment on the FLEX dataset.

The core import is light: it never pulls torch or other heavy dependencies. Subpackages:

- ``flexaqa.kg``: the Fitness Knowledge Graph and the penalty score.
"""

from flexaqa.errors import FlexaqaError

__version__ = "0.1.0"
__all__ = ["FlexaqaError", "__version__"]
