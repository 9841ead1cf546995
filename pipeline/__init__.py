"""journey-pipeline: sessions, journey stages and cart alerts from clickstream events."""

__version__ = "0.1.0"

__all__ = ["__version__"]
