"""kre: Korean relation extraction (KLUE-RE) experiments from the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kre")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
