"""Hyperparameter sweeps: an Optuna search over `kre train` options, each trial a normal run.

The sweep file (TOML)::

    [sweep]
    trials = 10                 # default number of trials
    metric = "micro_f1"         # a validation metric in the run manifest (micro_f1, auprc, accuracy)
    sampler = "tpe"             # tpe | random
    [fixed]                     # options every trial gets
    model = "tapt/latest"
    epochs = 1
    [space]                     # searched options
    lr = { type = "float", low = 1e-5, high = 1e-4, log = true }
    head = { type = "categorical", choices = ["cls", "entity"] }
    batch-size = { type = "int", low = 16, high = 64, step = 16 }

The study lives in `<root>/.kre/sweeps/<name>.db` (SQLite), so an interrupted sweep
resumes where it stopped: finished trials are kept and only the missing ones run, and
several `kre sweep` processes can work on one study side by side. Each trial calls the
train phase (kre.phases.train) with a callback that reports validation micro F1 at each
evaluation to Optuna; a trial the pruner stops is recorded as pruned and publishes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import Artifact
from .errors import ConfigError, KreError
from .fileio import read_toml, write_json
from .phases import build_config, option_names, run_phase
from .phases.base import unknown_option

_TYPES = ("float", "int", "categorical")
PRUNERS = ("median", "none")

#: Runs one training trial: (phase "train", its TrainJob) -> the published run.
TrialRunner = Callable[[str, Any], Artifact]


@dataclass
class SweepSpec:
    """A parsed sweep file."""

    trials: int
    metric: str
    sampler: str
    fixed: dict[str, Any]
    space: dict[str, dict[str, Any]]


@dataclass
class TrialResult:
    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    run: str | None


@dataclass
class SweepResult:
    name: str
    storage: Path
    metric: str
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def best(self) -> TrialResult | None:
        done = [t for t in self.trials if t.value is not None]
        return max(done, key=lambda t: t.value) if done else None  # type: ignore[arg-type, return-value]


def load_sweep(path: str | Path) -> SweepSpec:
    """Parse and check a sweep file."""
    path = Path(path)
    data = read_toml(path)
    head = data.get("sweep", {})
    space = data.get("space")
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{path}: no [space] table of searched options")
    for name, spec in space.items():
        where = f"{path}: space.{name}"
        if not isinstance(spec, dict) or spec.get("type") not in _TYPES:
            raise ConfigError(f"{where}: needs type = {' | '.join(_TYPES)}")
        if spec["type"] == "categorical":
            if not isinstance(spec.get("choices"), list) or not spec["choices"]:
                raise ConfigError(f"{where}: categorical needs a non-empty choices list")
        elif not {"low", "high"} <= spec.keys() or not spec["low"] < spec["high"]:
            raise ConfigError(f"{where}: {spec['type']} needs low < high")
    fixed = data.get("fixed", {})
    known = option_names("train")
    for key in [*fixed, *space]:
        if str(key).replace("-", "_") not in known:
            raise unknown_option(str(key), known, f"{path}")
    overlap = sorted(set(fixed) & set(space))
    if overlap:
        raise ConfigError(f"{path}: option(s) both fixed and searched: {', '.join(overlap)}")
    sampler = str(head.get("sampler", "tpe"))
    if sampler not in ("tpe", "random"):
        raise ConfigError(f"{path}: sampler must be tpe or random")
    return SweepSpec(int(head.get("trials", 10)), str(head.get("metric", "micro_f1")), sampler, dict(fixed), dict(space))


def _suggest(trial: Any, name: str, spec: dict[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "float":
        return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
    if kind == "int":
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]), step=int(spec.get("step", 1)), log=bool(spec.get("log", False)))
    return trial.suggest_categorical(name, list(spec["choices"]))


class PruningCallback:
    """Factory of a transformers.TrainerCallback that reports the sweep's validation metric (micro F1 by
    default) at each evaluation to an Optuna trial, and stops the trial when the pruner says so."""

    @staticmethod
    def create(trial: Any, metric: str = "micro_f1") -> Any:
        from transformers import TrainerCallback

        key = f"eval_{metric}"

        class _Report(TrainerCallback):  # type: ignore[misc]
            def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kwargs: Any) -> None:
                import optuna

                if not metrics or key not in metrics:
                    return
                trial.report(float(metrics[key]), step=int(state.global_step))
                if trial.should_prune():
                    raise optuna.TrialPruned(f"{metric} {metrics[key]:.2f} at step {state.global_step}")

        return _Report()


def open_study(storage: Path, name: str, sampler: Any, pruner: Any, *, tries: int = 10) -> Any:
    """Create or load the study. Creation is serialised by a lock file next to the database (and
    retried), SQLite waits up to two minutes for another process's write lock."""
    import optuna

    last: Exception | None = None
    for attempt in range(tries):
        try:
            with _creation_lock(storage.with_suffix(".lock")):
                rdb = optuna.storages.RDBStorage(url=f"sqlite:///{storage}", engine_kwargs={"connect_args": {"timeout": 120}})
                return optuna.create_study(study_name=name, storage=rdb, direction="maximize", sampler=sampler,
                                           pruner=pruner, load_if_exists=True)
        except Exception as exc:  # noqa: BLE001 - a creation race with another process: wait, load it
            last = exc
            time.sleep(0.2 * (attempt + 1))
    raise KreError(f"{storage}: cannot open the sweep study ({last})")


@contextmanager
def _creation_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: rely on the retries
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_pruner(name: str) -> Any:
    """`--pruner median` (Optuna's MedianPruner, 2 startup trials) or `none`."""
    import optuna

    if name not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got '{name}'")
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)


def run_sweep(
    *,
    data: str,
    spec: SweepSpec,
    root: Path,
    name: str,
    trials: int | None = None,
    seed: int = 42,
    pruner: str = "median",
    runner: TrialRunner | None = None,
) -> SweepResult:
    """Run (or resume) a sweep until the study holds `trials` finished (complete or pruned) trials; return all trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = root / ".kre" / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    storage = folder / f"{name}.db"
    sampler = optuna.samplers.TPESampler(seed=seed) if spec.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    study = open_study(storage, name, sampler, make_pruner(pruner))
    target = trials if trials is not None else spec.trials
    done_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    run = runner or run_phase

    def objective(trial: "optuna.Trial") -> float:
        from .console import info

        params = {k: _suggest(trial, k, v) for k, v in spec.space.items()}
        options = {**spec.fixed, **params, "name": f"{name}-t{trial.number}"}
        job = build_config("train", [data], options, where=f"trial {trial.number}", root=root)
        job.callbacks = [PruningCallback.create(trial, spec.metric)]
        info(f"[bold]trial {trial.number}[/bold]: " + ", ".join(f"{k}={v}" for k, v in params.items()))
        artifact = run("train", job)
        trial.set_user_attr("run", artifact.id)
        metrics = artifact.metrics
        if spec.metric not in metrics:
            raise KreError(f"run {artifact.id} has no metric '{spec.metric}'", hint=f"metrics: {', '.join(sorted(metrics))}")
        return float(metrics[spec.metric])

    finished = [t for t in study.get_trials(deepcopy=False) if t.state in done_states]
    if target - len(finished) > 0:
        stop = optuna.study.MaxTrialsCallback(target, states=done_states)  # counts other processes' trials too
        study.optimize(objective, n_trials=target - len(finished), catch=(KreError,), callbacks=[stop])
    result = SweepResult(name, storage, spec.metric)
    for t in study.get_trials(deepcopy=False):
        result.trials.append(
            TrialResult(t.number, t.state.name.lower(), t.value if t.value is not None else None, dict(t.params), t.user_attrs.get("run"))
        )
    best = result.best
    write_json(
        folder / f"{name}.json",
        {
            "name": name,
            "metric": spec.metric,
            "best": None if best is None else best.__dict__,
            "trials": [t.__dict__ for t in result.trials],
        },
    )
    return result
