"""Pipelines as files: run a declared sequence of phases, skipping unchanged steps.

A pipeline is a TOML file::

    root = "work"                 # artifact root (relative to the file), optional
    [[step]]
    name = "split"                # unique step name
    phase = "split"               # a phase (kre.phases): eda split augment tapt train predict ensemble errors
    args = ["data/train.csv"]     # positional arguments
    [step.options]                # the phase config's fields (kebab or snake case)
    dedupe = true
    folds = 5

    [[step]]
    name = "train"
    phase = "train"
    args = ["@split"]             # "@<step>" is the artifact that step produced

Each step calls the phase function (kre.phases) and gets the artifact it published back, so
other processes publishing into the same root at the same time do not confuse it.
Each step's key hashes its phase, options and inputs (file contents, artifact manifests,
model folders). A step whose key matches the lock file's record, and whose artifact is
still intact, is skipped; a changed step runs again, and so does every step downstream of
it, because their inputs (its new artifact) changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .artifacts import KINDS, Artifact, ArtifactStore, load_artifact
from .errors import ArtifactError, ConfigError, KreError
from .fileio import dumps_json, hash_tree, read_toml, sha256_file, sha256_text, tree_digest, write_json
from .phases import PHASE_KINDS, build_config, option_names, run_phase

__all__ = ["PHASE_KINDS", "Pipeline", "PipelineStep", "StepResult", "load_pipeline", "run_pipeline"]

#: Runs one phase: (phase name, its config object) -> the published artifact.
PhaseRunner = Callable[[str, Any], Artifact]


@dataclass
class PipelineStep:
    """One step of a pipeline file: a phase with its arguments and options."""

    name: str
    phase: str
    args: list[Any] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pipeline:
    """A parsed pipeline file."""

    path: Path
    root: Path
    steps: list[PipelineStep]

    @property
    def lock_path(self) -> Path:
        return self.root / ".kre" / "pipelines" / f"{self.path.stem}.lock.json"


@dataclass
class StepResult:
    """What happened to a step: 'ran', 'skipped' or 'would-run' (dry run)."""

    name: str
    status: str
    artifact: str | None
    key: str


def load_pipeline(path: str | Path, root: str | Path | None = None) -> Pipeline:
    """Parse and check a pipeline file (TOML)."""
    path = Path(path)
    data = read_toml(path)
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ConfigError(f"{path}: no [[step]] tables", hint="see `kre run --help` for the file format")
    steps: list[PipelineStep] = []
    names: set[str] = set()
    for i, raw in enumerate(raw_steps, start=1):
        where = f"{path}: step {i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        unknown = set(raw) - {"name", "phase", "args", "options"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        phase = raw.get("phase")
        if phase not in PHASE_KINDS:
            raise ConfigError(f"{where}: phase must be one of {', '.join(PHASE_KINDS)}, got {phase!r}")
        name = str(raw.get("name") or phase)
        if name in names:
            raise ConfigError(f"{where}: duplicate step name '{name}'")
        args = raw.get("args", [])
        options = raw.get("options", {})
        if not isinstance(args, list) or not isinstance(options, dict):
            raise ConfigError(f"{where}: args must be a list and options a table")
        known = option_names(phase)
        for key in options:
            if str(key).replace("-", "_") not in known:
                from .phases.base import unknown_option

                raise unknown_option(str(key), known, f"{where} ({phase})")
        for ref in _step_refs([*args, *options.values()]):
            if ref not in names:
                raise ConfigError(f"{where}: '@{ref}' names no earlier step")
        names.add(name)
        steps.append(PipelineStep(name, phase, list(args), dict(options)))
    base = path.parent
    root_path = Path(root) if root is not None else base / str(data.get("root", "."))
    return Pipeline(path, root_path, steps)


def _step_refs(values: Sequence[Any]) -> list[str]:
    out = []
    for v in values:
        items = v if isinstance(v, list) else [v]
        out += [x[1:] for x in items if isinstance(x, str) and x.startswith("@")]
    return out


def run_pipeline(
    pipeline: Pipeline,
    *,
    force: Sequence[str] = (),
    dry_run: bool = False,
    runner: PhaseRunner | None = None,
    on_step: Callable[[StepResult], None] | None = None,
) -> list[StepResult]:
    """Run the steps in order, skipping those whose key and artifact are unchanged.

    Args:
        force: step names to run even when unchanged ("*" for all).
        dry_run: only report what would run.
        runner: runs one phase with its config (default: kre.phases.run_phase); returns the artifact.
    """
    store = ArtifactStore(pipeline.root)
    pipeline.root.mkdir(parents=True, exist_ok=True)
    lock = _read_lock(pipeline.lock_path)
    produced: dict[str, Path] = {}
    results: list[StepResult] = []
    for step in pipeline.steps:
        args = [_resolve_value(a, produced, pipeline) for a in step.args]
        options = {k: _resolve_value(v, produced, pipeline) for k, v in step.options.items()}
        key = _step_key(step.phase, args, options, store)
        record = lock.get(step.name, {})
        cached = _intact(pipeline.root, record.get("artifact")) if record.get("key") == key else None
        if cached is not None and step.name not in force and "*" not in force:
            produced[step.name] = cached
            result = StepResult(step.name, "skipped", record["artifact"], key)
        elif dry_run:
            produced[step.name] = Path(f"<{step.name}>")
            result = StepResult(step.name, "would-run", None, key)
        else:
            artifact = _run_step(step, args, options, pipeline.root, runner or run_phase)
            produced[step.name] = pipeline.root / artifact
            lock[step.name] = {"key": key, "artifact": artifact, "phase": step.phase}
            write_json(pipeline.lock_path, lock)
            result = StepResult(step.name, "ran", artifact, key)
        results.append(result)
        if on_step:
            on_step(result)
    return results


def _run_step(step: PipelineStep, args: list[Any], options: dict[str, Any], root: Path, runner: PhaseRunner) -> str:
    """Run the step's phase; return the id of the artifact it published."""
    from .console import info

    label = f"step {step.name}"
    config = build_config(step.phase, args, options, where=label, root=root)
    info(f"[bold]{label}[/bold]: {step.phase} {' '.join(str(a) for a in args)}")
    try:
        artifact = runner(step.phase, config)
    except KreError as exc:
        raise KreError(f"{label} ({step.phase}) failed: {exc.message}", hint=exc.hint or "fix it and run again; finished steps are kept") from None
    return artifact.id


def _resolve_value(value: Any, produced: dict[str, Path], pipeline: Pipeline) -> Any:
    if isinstance(value, list):
        return [_resolve_value(v, produced, pipeline) for v in value]
    if isinstance(value, str) and value.startswith("@"):
        return str(produced[value[1:]])
    if isinstance(value, str) and not Path(value).is_absolute() and (pipeline.path.parent / value).exists():
        return str(pipeline.path.parent / value)  # data paths are relative to the pipeline file
    return value


def _step_key(phase: str, args: list[Any], options: dict[str, Any], store: ArtifactStore) -> str:
    described = {
        "phase": phase,
        "args": [_describe(a, store) for a in args],
        "options": {k: _describe(v, store) for k, v in sorted(options.items())},
    }
    return sha256_text(dumps_json(described))


def _describe(value: Any, store: ArtifactStore) -> Any:
    """A value as it counts for change detection: files by content, artifacts by manifest."""
    if isinstance(value, list):
        return [_describe(v, store) for v in value]
    if not isinstance(value, str):
        return value
    path = Path(value)
    if (path / "manifest.json").is_file() or (store.root / path / "manifest.json").is_file():
        art = store.resolve(value, verify=False)
        return {"artifact": art.id, "manifest": art.manifest_sha256()}
    first = value.split("/")[0]
    if first in KINDS:
        try:
            art = store.resolve(value, verify=False)
            return {"artifact": art.id, "manifest": art.manifest_sha256()}
        except ArtifactError:
            return value
    if path.is_file():
        return {"file": sha256_file(path)}
    if path.is_dir():
        return {"dir": tree_digest(hash_tree(path))}
    return value


def _intact(root: Path, artifact: str | None) -> Path | None:
    if not artifact:
        return None
    try:
        return load_artifact(root / artifact).path
    except ArtifactError:
        return None


def _read_lock(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}
