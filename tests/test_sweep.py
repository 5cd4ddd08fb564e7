"""Sweeps: trials are runs, the study resumes from disk, the best trial is reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kre.artifacts import ArtifactStore
from kre.errors import ConfigError, KreError
from kre.sweep import load_sweep, run_sweep

SWEEP = """
[sweep]
trials = 3
metric = "micro_f1"
sampler = "random"
[fixed]
model = "some/model"
epochs = 1
[space]
lr = { type = "float", low = 0.0001, high = 0.1, log = true }
head = { type = "categorical", choices = ["cls", "entity"] }
"""


class FakeTrain:
    """Publishes a run whose F1 is a known function of the options."""

    def __init__(self, root: Path) -> None:
        self.store = ArtifactStore(root)
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, phase: str, job: Any) -> Any:
        self.calls.append((phase, job))
        lr, head = job.config.lr, job.config.head
        with self.store.create("runs", job.name, params={"lr": lr, "head": head}) as b:
            (b.path / "metrics.json").write_text("{}")
            b.metrics["micro_f1"] = 100 * lr + (5 if head == "entity" else 0)
        return b.published


def test_sweep_runs_resumes_and_reports_best(tmp_path: Path) -> None:
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    spec = load_sweep(sweep_file)
    fake = FakeTrain(tmp_path)
    result = run_sweep(data="splits/latest", spec=spec, root=tmp_path, name="s", runner=fake)
    assert len(result.trials) == 3 and len(fake.calls) == 3
    assert all(p == "train" and j.data == "splits/latest" and j.config.model == "some/model" for p, j in fake.calls)
    assert all(len(j.callbacks) == 1 for _, j in fake.calls)  # the pruning reporter
    best = result.best
    expected = max(100 * t.params["lr"] + (5 if t.params["head"] == "entity" else 0) for t in result.trials)
    assert best is not None and best.value == pytest.approx(expected)
    assert best.run and ArtifactStore(tmp_path).resolve(best.run).metrics["micro_f1"] == pytest.approx(expected)
    # same command again: the study is complete, nothing runs; asking for 5 runs only 2 more
    assert len(run_sweep(data="splits/latest", spec=spec, root=tmp_path, name="s", runner=fake).trials) == 3
    assert len(fake.calls) == 3
    assert len(run_sweep(data="splits/latest", spec=spec, root=tmp_path, name="s", trials=5, runner=fake).trials) == 5
    assert len(fake.calls) == 5
    assert (tmp_path / ".kre" / "sweeps" / "s.json").is_file()


def test_failed_trial_is_recorded_not_fatal(tmp_path: Path) -> None:
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    fake = FakeTrain(tmp_path)
    calls = {"n": 0}

    def flaky(phase: str, job: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KreError("broken trial")
        return fake(phase, job)

    result = run_sweep(data="splits/latest", spec=load_sweep(sweep_file), root=tmp_path, name="f", runner=flaky)
    assert [t.state for t in result.trials].count("fail") == 1 and result.best is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[sweep]\ntrials = 2\n", "no \\[space\\]"),
        ("[space]\nlr = { type = 'float', low = 1, high = 0 }\n", "low < high"),
        ("[space]\nlr = { type = 'gauss' }\n", "needs type"),
        ("[space]\nhead = { type = 'categorical', choices = [] }\n", "non-empty choices"),
        ("[fixed]\nlr = 1\n[space]\nlr = { type = 'float', low = 0, high = 1 }\n", "both fixed and searched"),
        ("[fixed]\nbatch-sise = 8\n[space]\nlr = { type = 'float', low = 0, high = 1 }\n", "unknown option 'batch-sise'"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_sweep(path)


def test_real_sweep_of_three_trials_with_tiny_model(kre, tiny_model: Path, tmp_path: Path, train_csv: Path) -> None:
    """`kre sweep` end to end: three real `kre train` trials on a tiny model, best trial reported."""
    root = tmp_path / "root"
    kre("split", train_csv, "--root", root, "--valid-size", "0.25", ok=True)
    sweep_file = tmp_path / "tiny.toml"
    sweep_file.write_text(
        f"""
[sweep]
trials = 3
metric = "auprc"
sampler = "random"
[fixed]
model = "{tiny_model}"
max-steps = 2
batch-size = 8
max-length = 64
[space]
lr = {{ type = "float", low = 0.0001, high = 0.01, log = true }}
head = {{ type = "categorical", choices = ["cls", "entity"] }}
"""
    )
    out = kre("sweep", "splits/latest", sweep_file, "--root", root, "--pruner", "none", ok=True).output  # all 3 trials publish
    store = ArtifactStore(root)
    trial_runs = store.load_all("runs")
    assert len(trial_runs) == 3 and {r.params["max_steps"] for r in trial_runs} == {2}
    best = max(trial_runs, key=lambda r: r.metrics["auprc"])
    assert f"run {best.id}" in out and "Best: trial" in out
    assert len({r.params["lr"] for r in trial_runs}) == 3


def test_hopeless_trial_is_pruned_and_publishes_nothing(kre, tiny_model: Path, tmp_path: Path, train_csv: Path) -> None:
    """Two good trials, then lr 1e-12: its validation AUPRC at each evaluation is below their median, so it is pruned."""
    import optuna

    from kre.sweep import make_pruner, open_study

    root = tmp_path / "root"
    kre("split", train_csv, "--root", root, "--valid-size", "0.25", ok=True)
    sweep_file = tmp_path / "p.toml"
    sweep_file.write_text(
        f"""
[sweep]
trials = 3
sampler = "random"
metric = "auprc"
[fixed]
model = "{tiny_model}"
max-steps = 12
eval-every = 4
batch-size = 8
max-length = 64
head = "cls"
[space]
lr = {{ type = "float", low = 1e-12, high = 0.01, log = true }}
"""
    )
    (root / ".kre" / "sweeps").mkdir(parents=True)
    study = open_study(root / ".kre" / "sweeps" / "p.db", "p", optuna.samplers.RandomSampler(seed=0), make_pruner("median"))
    for lr in (3e-3, 3e-3, 1e-12):
        study.enqueue_trial({"lr": lr})
    result = run_sweep(data="splits/latest", spec=load_sweep(sweep_file), root=root, name="p")
    states = [t.state for t in result.trials]
    values = {t.number: t.value for t in result.trials}
    assert states == ["complete", "complete", "pruned"], (states, values)
    assert result.trials[2].run is None
    assert len(ArtifactStore(root).load_all("runs")) == 2


WORKER = """
import os, sys, time
from pathlib import Path
from kre.artifacts import ArtifactStore
from kre.sweep import load_sweep, run_sweep

root = Path(sys.argv[1])
store = ArtifactStore(root)

def runner(phase, job):
    time.sleep(0.1)
    with store.create("runs", job.name, params={"lr": job.config.lr, "pid": os.getpid()}) as b:
        (b.path / "metrics.json").write_text("{}")
        b.metrics["micro_f1"] = 100 * job.config.lr
    return b.published

run_sweep(data="splits/latest", spec=load_sweep(sys.argv[2]), root=root, name="shared", trials=8, runner=runner)
"""


def test_two_sweep_processes_share_one_study(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import optuna

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(SWEEP)
    root = tmp_path / "root"
    root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(root), str(sweep_file)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n---\n".join(outputs)
    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{root / '.kre' / 'sweeps' / 'shared.db'}")
    trials = study.get_trials()
    assert 8 <= len(trials) <= 10 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    runs = ArtifactStore(root).load_all("runs")
    assert sorted(r.id for r in runs) == sorted(t.user_attrs["run"] for t in trials)
    assert len({r.params["pid"] for r in runs}) == 2  # both processes ran trials
