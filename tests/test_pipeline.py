"""Pipeline files: parsing, step references, and rerunning only what changed."""

from __future__ import annotations

from pathlib import Path

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
method = ["a", "b"]
"""


class FakeKre:
    """Stands in for the kre app: records command lines and publishes one artifact per call."""

    def __init__(self, root: Path) -> None:
        self.calls: list[list[str]] = []
        self.store = ArtifactStore(root)

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        with self.store.create(PHASE_KINDS[argv[0]], argv[0], params={"argv": argv}) as b:
            (b.path / "out.txt").write_text(" ".join(argv))
        return 0


def _setup(tmp_path: Path, text: str = PIPE) -> tuple[Path, FakeKre]:
    (tmp_path / "data.csv").write_text("v1")
    pipe = tmp_path / "pipe.toml"
    pipe.write_text(text)
    return pipe, FakeKre(tmp_path / "art")


def test_runs_then_skips_unchanged(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    first = run_pipeline(load_pipeline(pipe), invoke=fake)
    assert [r.status for r in first] == ["ran", "ran"]
    split_argv, train_argv = fake.calls
    assert split_argv[:2] == ["split", str(tmp_path / "data.csv")] and "--dedupe" in split_argv and "--seed" in split_argv
    assert train_argv[1] == str(tmp_path / "art" / "splits" / "0001-split")
    assert train_argv[train_argv.index("--method") + 1] == "a" and train_argv.count("--method") == 2
    second = run_pipeline(load_pipeline(pipe), invoke=fake)
    assert [r.status for r in second] == ["skipped", "skipped"] and len(fake.calls) == 2


def test_changed_input_reruns_it_and_downstream(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    run_pipeline(load_pipeline(pipe), invoke=fake)
    (tmp_path / "data.csv").write_text("v2")
    again = run_pipeline(load_pipeline(pipe), invoke=fake)
    assert [r.status for r in again] == ["ran", "ran"]
    assert again[0].artifact == "splits/0002-split" and again[1].artifact == "runs/0002-train"


def test_changed_option_reruns_only_that_step(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    run_pipeline(load_pipeline(pipe), invoke=fake)
    pipe.write_text(PIPE.replace("lr = 0.001", "lr = 0.002"))
    again = run_pipeline(load_pipeline(pipe), invoke=fake)
    assert [r.status for r in again] == ["skipped", "ran"]


def test_damaged_artifact_and_force_rerun(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)
    first = run_pipeline(load_pipeline(pipe), invoke=fake)
    (tmp_path / "art" / first[1].artifact / "out.txt").write_text("tampered")
    assert [r.status for r in run_pipeline(load_pipeline(pipe), invoke=fake)] == ["skipped", "ran"]
    assert [r.status for r in run_pipeline(load_pipeline(pipe), invoke=fake, force=["split"])] == ["ran", "ran"]
    dry = run_pipeline(load_pipeline(pipe), invoke=fake, dry_run=True, force=["*"])
    assert [r.status for r in dry] == ["would-run", "would-run"] and len(fake.calls) == 5


def test_failed_step_keeps_finished_ones(tmp_path: Path) -> None:
    pipe, fake = _setup(tmp_path)

    def failing(argv: list[str]) -> int:
        return fake(argv) if argv[0] == "split" else 1

    with pytest.raises(KreError, match="step train failed"):
        run_pipeline(load_pipeline(pipe), invoke=failing)
    assert [r.status for r in run_pipeline(load_pipeline(pipe), invoke=fake)] == ["skipped", "ran"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]]\nphase = 'fly'\n", "phase must be one of"),
        ("[[step]]\nphase = 'split'\nargs = ['@nope']\n", "names no earlier step"),
        ("[[step]]\nphase = 'split'\n[[step]]\nphase = 'split'\n", "duplicate step name"),
        ("root = 1\n", "no \\[\\[step\\]\\] tables"),
        ("[[step]\n", "not valid TOML"),
        ("[[step]]\nphase = 'split'\nopts = 1\n", "unknown key"),
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
