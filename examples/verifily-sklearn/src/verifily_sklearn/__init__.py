"""A scikit-learn classification backend for Verifily Train (the plugin guide's worked example)."""

__version__ = "0.1.0"
