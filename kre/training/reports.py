"""The `--report-to` check (plots are in kre.training.plots; Trainer does the reporting)."""

from __future__ import annotations

import importlib.util

from ..errors import ConfigError

_PACKAGES = {"wandb": "wandb", "mlflow": "mlflow", "tensorboard": "tensorboard"}


def check_report_to(name: str) -> None:
    """Refuse a tracker whose package is not installed (before any work starts); Trainer does the reporting."""
    if name == "none":
        return
    package = _PACKAGES[name]
    if importlib.util.find_spec(package) is None:
        raise ConfigError(
            f"--report-to {name}: the '{package}' package is not installed",
            hint=f"pip install {package}, or use --report-to none (metrics.json is always written)",
        )
