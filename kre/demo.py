"""`kre demo`: the bundled pipeline on the bundled sample data, with an offline model."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from .artifacts import load_artifact
from .pipeline import StepResult, load_pipeline, run_pipeline

SAMPLE_DIR = Path(str(files("kre") / "sample_data"))
DEMO_PIPELINE = SAMPLE_DIR / "demo.toml"


@dataclass(frozen=True)
class ScoredStep:
    """A demo step that has validation scores (a training run or the ensemble)."""

    step: str
    artifact: str
    data: str
    seed: str
    micro_f1: float
    auprc: float


def sample_path(name: str) -> Path:
    """Path of a bundled sample file (train.csv, test_data.csv, labels.json, demo.toml)."""
    return SAMPLE_DIR / name


def run_demo(*, root: Path, force: bool = False) -> list[StepResult]:
    """Run the demo pipeline under `root` (steps whose inputs did not change are skipped)."""
    pipeline = load_pipeline(DEMO_PIPELINE, root=root)
    return run_pipeline(pipeline, force=("*",) if force else ())


def scored_steps(root: Path, results: list[StepResult]) -> list[ScoredStep]:
    """Every step whose artifact has validation micro F1, in pipeline order, with its data and seed."""
    scored: list[ScoredStep] = []
    for r in results:
        if not r.artifact:
            continue
        art = load_artifact(root / r.artifact, verify=False)
        m = art.metrics
        if m.get("micro_f1") is None:
            continue
        data = next((i.get("artifact") or i.get("path") for i in art.inputs if i.get("role") == "data"), None)
        data = _short_id(str(data)) if data else None
        if art.kind == "ensembles":
            members = [str(i["artifact"]) for i in art.inputs if i.get("artifact") and str(i.get("role", "")).startswith("member-")]
            data = "+".join(_short_id(m) for m in members)
        seed = art.manifest.get("seed") if art.kind != "ensembles" else None  # an ensemble draws nothing at random
        scored.append(
            ScoredStep(
                r.name, _short_id(art.id), str(data or "-"), "-" if seed is None else str(seed),
                float(m["micro_f1"]), float(m.get("auprc", float("nan"))),
            )
        )
    return scored


def _short_id(artifact_id: str) -> str:
    """`runs/0003-long-slug` -> `runs/0003`."""
    kind, _, name = artifact_id.partition("/")
    return f"{kind}/{name[:4]}" if name[:4].isdigit() else artifact_id


def best_step(scored: list[ScoredStep]) -> ScoredStep | None:
    """The step with the highest validation micro F1 (AUPRC breaks ties)."""
    return max(scored, key=lambda s: (s.micro_f1, s.auprc), default=None)


def next_steps(root: Path) -> list[str]:
    """Commands that show what the demo made (the artifacts live under `root`, not the current folder)."""
    r = shlex.quote(str(root))
    return [
        f"kre runs --root {r}                      # the training runs side by side",
        f"kre show ensembles/latest --root {r}     # the ensemble's manifest and lineage",
        f"export KRE_ROOT={r}                      # or this, then plain `kre runs`, `kre show ...`",
    ]
