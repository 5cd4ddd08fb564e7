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
resumes where it stopped: finished trials are kept and only the missing ones run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import ArtifactStore
from .errors import ConfigError, KreError
from .fileio import read_toml, write_json
from .invoke import Invoker, run_phase

_TYPES = ("float", "int", "categorical")


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


def run_sweep(
    *,
    data: str,
    spec: SweepSpec,
    root: Path,
    name: str,
    trials: int | None = None,
    seed: int = 42,
    invoke: Invoker | None = None,
) -> SweepResult:
    """Run (or resume) a sweep until the study holds `trials` finished trials; return all trials."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = root / ".kre" / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    storage = folder / f"{name}.db"
    sampler = optuna.samplers.TPESampler(seed=seed) if spec.sampler == "tpe" else optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(
        study_name=name, storage=f"sqlite:///{storage}", direction="maximize", sampler=sampler, load_if_exists=True
    )
    target = trials if trials is not None else spec.trials
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    store = ArtifactStore(root)

    def objective(trial: "optuna.Trial") -> float:
        params = {k: _suggest(trial, k, v) for k, v in spec.space.items()}
        options = {**spec.fixed, **params, "name": f"{name}-t{trial.number}"}
        run_id = run_phase("train", [data], options, root, invoke=invoke, label=f"trial {trial.number}")
        trial.set_user_attr("run", run_id)
        metrics = store.resolve(run_id, verify=False).metrics
        if spec.metric not in metrics:
            raise KreError(f"run {run_id} has no metric '{spec.metric}'", hint=f"metrics: {', '.join(sorted(metrics))}")
        return float(metrics[spec.metric])

    remaining = max(0, target - len(finished))
    if remaining:
        study.optimize(objective, n_trials=remaining, catch=(KreError,))
    result = SweepResult(name, storage, spec.metric)
    for t in study.trials:
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
