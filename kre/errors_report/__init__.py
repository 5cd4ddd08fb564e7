"""Error analysis of validation predictions: `kre errors RUN` -> `errors/<id>/report.html` + `report.md`."""

from .analysis import ErrorAnalysis, analyse
from .build import run_errors
from .source import Predictions, load_predictions

__all__ = ["ErrorAnalysis", "Predictions", "analyse", "load_predictions", "run_errors"]
