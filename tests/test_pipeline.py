"""Pipeline files: parsing, step references, and rerunning only what changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kre.artifacts import ArtifactStore
from kre.errors import ConfigError, KreError
from kre.pipeline import PHASE_KINDS, load_pipeline, run_pipeline

PIPE = """
root = "art"
[[step]]
name = "split"
phase = "split"
args = ["data.csv"]
[step.options]
seed = 1
dedupe = true

[[step]]
name = "train"
phase = "train"
args = ["@split"]
[step.options]
lr = 0.001
trainer = ["logging_steps=3", "optim=adafactor"]
"""


class FakeKre:
    """Stands in for the phase functions: records (phase, config) and publishes one artifact per call."""

    def __init__(self, root: Path) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.store = ArtifactStore(root)

    def __call__(self, phase: str, config: Any) -> Any:
        self.calls.append((phase, config))
        with self.store.create(PHASE_KINDS[phase], phase, params={"config": repr(config)}) as b:
            (b.path / "out.txt").write_text(repr(config))
        return b.published


def _setup(tmp_path: Path, text: str = PIPE) -> tuple[Path, FakeKre]:
    (tmp_path / "data.csv").write_text("v1")
    pipe = tmp_path / "pipe.toml"
    pipe.write_text(text)
    return pipe, FakeKre(tmp_path / "art")


def test_runs_then_skips_unchanged(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    first = run_pipeline(load_pipeline(pipe), runner=fake)
    assert [r.status for r in first] == ["ran", "ran"]
    (split_phase, split_cfg), (train_phase, train_job) = fake.calls
    assert split_phase == "split" and split_cfg.data == str(tmp_path / "data.csv") and split_cfg.dedupe and split_cfg.seed == 1
    assert Path(split_cfg.root) == tmp_path / "art"
    assert train_phase == "train" and train_job.data == str(tmp_path / "art" / "splits" / "0001-split")
    assert train_job.config.lr == 0.001 and train_job.config.trainer == {"logging_steps": 3, "optim": "adafactor"}
    second = run_pipeline(load_pipeline(pipe), runner=fake)
    assert [r.status for r in second] == ["skipped", "skipped"] and len(fake.calls) == 2


def test_changed_input_reruns_it_and_downstream(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    run_pipeline(load_pipeline(pipe), runner=fake)
    (tmp_path / "data.csv").write_text("v2")
    again = run_pipeline(load_pipeline(pipe), runner=fake)
    assert [r.status for r in again] == ["ran", "ran"]
    assert again[0].artifact == "splits/0002-split" and again[1].artifact == "runs/0002-train"


def test_changed_option_reruns_only_that_step(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    run_pipeline(load_pipeline(pipe), runner=fake)
    pipe.write_text(PIPE.replace("lr = 0.001", "lr = 0.002"))
    again = run_pipeline(load_pipeline(pipe), runner=fake)
    assert [r.status for r in again] == ["skipped", "ran"]


def test_damaged_artifact_and_force_rerun(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    first = run_pipeline(load_pipeline(pipe), runner=fake)
    (tmp_path / "art" / first[1].artifact / "out.txt").write_text("tampered")
    assert [r.status for r in run_pipeline(load_pipeline(pipe), runner=fake)] == ["skipped", "ran"]
    assert [r.status for r in run_pipeline(load_pipeline(pipe), runner=fake, force=["split"])] == ["ran", "ran"]
    dry = run_pipeline(load_pipeline(pipe), runner=fake, dry_run=True, force=["*"])
    assert [r.status for r in dry] == ["would-run", "would-run"] and len(fake.calls) == 5


def test_failed_step_keeps_finished_ones(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)

    def failing(phase: str, config: Any) -> Any:
        if phase == "split":
            return fake(phase, config)
        raise KreError("no model")

    with pytest.raises(KreError, match="step train \\(train\\) failed: no model"):
        run_pipeline(load_pipeline(pipe), runner=failing)
    assert [r.status for r in run_pipeline(load_pipeline(pipe), runner=fake)] == ["skipped", "ran"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nphase = 'fly'\n", "phase must be one of"),
        ("[[step]]\nphase = 'split'\nargs = ['@nope']\n", "names no earlier step"),
        ("[[step]]\nphase = 'split'\n[[step]]\nphase = 'split'\n", "duplicate step name"),
        ("root = 1\n", "no \\[\\[step\\]\\] tables"),
        ("[[step]\n", "not valid TOML"),
        ("[[step]]\nphase = 'split'\nopts = 1\n", "unknown key"),
        ("[[step]]\nphase = 'split'\n[step.options]\nvalid_siz = 0.2\n", "unknown option 'valid-siz'"),
    ],
)
def test_bad_pipeline_files(tmp_path: Path, text: str, message: str) -> None:
    pipe = tmp_path / "bad.toml"
    pipe.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_pipeline(pipe)


def test_real_phases_through_kre_run(tmp_path: Path, kre, train_csv: Path) -> None:
    """eda + split through `kre run`; the second run skips both, a changed option reruns split only."""
    pipe = tmp_path / "p.toml"
    text = f"""
[[step]]
name = "eda"
phase = "eda"
args = ["{train_csv}"]

[[step]]
name = "split"
phase = "split"
args = ["{train_csv}"]
[step.options]
dedupe = true
valid-size = 0.2
"""
    pipe.write_text(text)
    root = tmp_path / "art"
    out = kre("run", pipe, "--root", root, ok=True).output
    assert "eda/0001" in out and "splits/0001" in out
    assert (root / "splits").is_dir() and len(ArtifactStore(root).list("splits")) == 1
    out = kre("run", pipe, "--root", root, ok=True).output
    assert out.count("skipped") == 2
    pipe.write_text(text.replace("valid-size = 0.2", "valid-size = 0.25"))
    quiet = kre("-q", "run", pipe, "--root", root, ok=True).output  # -q reaches the nested commands too
    assert "step split" not in quiet and "Reading" not in quiet and "ran" in quiet
    assert len(ArtifactStore(root).list("splits")) == 2 and len(ArtifactStore(root).list("eda")) == 1
    assert ArtifactStore(root).resolve("splits/latest").params["valid_size"] == 0.25
