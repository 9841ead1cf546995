"""journey-pipeline: sessions, journey stages and cart alerts from clickstream events."""

from .compiled import MODE as CORE_MODE

__version__ = "0.1.0"

__all__ = ["CORE_MODE", "__version__"]
