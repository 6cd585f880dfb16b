"""The package version, in a module of its own that imports nothing, so that any layer can name it."""

__version__ = "0.1.0"
