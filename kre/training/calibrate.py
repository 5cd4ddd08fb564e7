"""`kre train --calibrate`: temperature scaling of a finished run's outputs (kre.calibration does the maths).

One temperature T is fitted on the run's validation probabilities (out-of-fold for a k-fold
run) and applied to `valid_probs.csv` and `probs.csv` (argmax, so micro F1 and accuracy, never
change). `calibration.json` holds T and NLL / ECE / AUPRC before and after (in-sample and
cross-validated); the manifest's `temperature` makes `kre predict` apply the same T.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.probs import read_probs, write_probs
from ..errors import ArtifactError
from ..fileio import write_json
from ..labels import LabelSet

CALIBRATION_FILE = "calibration.json"


def calibrate_outputs(folder: Path, labels: LabelSet, *, seed: int = 0, cv_folds: int = 5) -> dict[str, Any]:
    """Fit T on `folder/valid_probs.csv`, rewrite it and `probs.csv` (if any) with T; returns the report."""
    from ..calibration import apply_temperature, calibration_report

    valid = read_probs(folder / "valid_probs.csv", labels)
    gold = valid.gold_ids
    if gold is None:
        raise ArtifactError(f"{folder / 'valid_probs.csv'}: has no gold labels to calibrate on")
    report = calibration_report(valid.probs, gold, cv_folds=cv_folds, seed=seed)
    t = report.temperature
    write_probs(folder / "valid_probs.csv", valid.ids, apply_temperature(valid.probs, t), labels, gold=valid.gold)
    if (folder / "probs.csv").exists():
        test = read_probs(folder / "probs.csv", labels)
        write_probs(folder / "probs.csv", test.ids, apply_temperature(test.probs, t), labels)
    out = report.to_dict()
    write_json(folder / CALIBRATION_FILE, out)
    metrics_path = folder / "metrics.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        write_json(metrics_path, {**metrics, "calibration": out})
    return out


def run_temperature(manifest: dict[str, Any]) -> float | None:
    """The temperature a `--calibrate` run recorded (None for an uncalibrated run)."""
    value = manifest.get("metrics", {}).get("temperature")
    return float(value) if value is not None else None


def calibration_rows(report: dict[str, Any]) -> list[list[Any]]:
    """Terminal-table rows: NLL, ECE, AUPRC before / after (cross-validated when available)."""
    after = report.get("after_cv") or report["after"]
    tag = " (cv)" if report.get("after_cv") else ""
    rows: list[list[Any]] = [["temperature", round(float(report["temperature"]), 4)]]
    for key, name in (("nll", "NLL"), ("ece", "ECE"), ("auprc", "AUPRC")):
        rows.append([f"{name} before -> after{tag}", f"{report['before'][key]:.4f} -> {after[key]:.4f}"])
    return rows
