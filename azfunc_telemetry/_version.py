"""The package version, read by setup.py and reported in ``ai.internal.sdkVersion``."""

__all__ = ["__version__"]

__version__ = "0.1.0"
