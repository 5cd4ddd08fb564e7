"""`kre demo`: the bundled pipeline on the bundled sample data, with an offline model."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .artifacts import load_artifact
from .console import result
from .pipeline import StepResult, load_pipeline, run_pipeline

SAMPLE_DIR = Path(str(files("kre") / "sample_data"))
DEMO_PIPELINE = SAMPLE_DIR / "demo.toml"


def sample_path(name: str) -> Path:
    """Path of a bundled sample file (train.csv, test_data.csv, labels.json, demo.toml)."""
    return SAMPLE_DIR / name


def run_demo(*, root: Path, force: bool = False) -> list[StepResult]:
    """Run the demo pipeline under `root`; print where each artifact went and the final scores."""
    pipeline = load_pipeline(DEMO_PIPELINE, root=root)
    results = run_pipeline(pipeline, force=("*",) if force else ())
    for r in results:
        if r.artifact:
            result(f"{r.name:>10}: {(root / r.artifact)}")
    scored = [r for r in results if r.artifact and load_artifact(root / r.artifact, verify=False).metrics.get("micro_f1") is not None]
    if scored:
        final = load_artifact(root / scored[-1].artifact, verify=False)  # type: ignore[operator]
        m = final.metrics
        result(f"Final validation ({final.id}): micro F1 {m['micro_f1']:.2f}, AUPRC {m.get('auprc', float('nan')):.2f}")
    return results
