"""`run_ensemble`: combine members and publish an `ensembles/<NNNN>-<slug>/` artifact."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..artifacts import Artifact, ArtifactStore
from ..data.probs import write_probs
from ..errors import ConfigError, KreError
from ..fileio import write_json
from ..labels import LabelSet
from .folds import check_fold_members, out_of_fold
from .members import Member, expand_member_args, load_members
from .voting import Method, Vote, combine, normalise_weights

AUTO = "auto"


def score(gold: np.ndarray, probs: np.ndarray, pred: np.ndarray, labels: LabelSet, *, detail: bool = False) -> dict[str, Any]:
    """micro F1, AUPRC and accuracy (x100) for given predictions (which may differ from argmax)."""
    from ..metrics import auprc, micro_f1, per_class

    out: dict[str, Any] = {
        "micro_f1": micro_f1(gold, pred, labels),
        "auprc": auprc(gold, probs, len(labels)),
        "accuracy": float((pred == gold).mean() * 100.0),
        "n": int(len(gold)),
    }
    if detail:
        out["per_class"] = per_class(gold, pred, labels)
    return out


def _resolve_weights(
    method: Method, weights: Sequence[float] | str | None, members: list[Member], labels: LabelSet,
    *, seed: int, cv_folds: int, force_weights: bool,
) -> tuple[np.ndarray | None, str, dict[str, Any] | None]:
    """The weights to vote with, where they came from, and the CV report for `auto`."""
    from ..console import info, warn

    if isinstance(weights, str) and weights != AUTO:
        raise ConfigError(f"--weights '{weights}': expected comma-separated numbers or 'auto'")
    if method is not Method.weighted:
        if weights is not None:
            raise ConfigError(f"--weights only applies to --method weighted, not {method.value}")
        return None, "equal", None
    if weights is None:
        raise ConfigError("--method weighted needs --weights (numbers, e.g. 0.5,0.3,0.2, or 'auto')")
    if weights != AUTO:
        return normalise_weights(weights, len(members)), "explicit", None  # type: ignore[arg-type]
    lacking = [m.name for m in members if m.valid is None]
    if lacking:
        raise ConfigError(
            f"--weights auto needs valid_probs.csv for every member; missing for: {', '.join(lacking)}",
            hint="pass run folders (or runs/*/probs.csv), whose valid_probs.csv is used for the fit",
        )
    from .fit import fit_weights

    gold = members[0].valid.gold_ids  # type: ignore[union-attr]
    report = fit_weights([m.valid.probs for m in members], gold, labels, seed=seed, folds=cv_folds)  # type: ignore[union-attr]
    cv = report.to_dict()
    info(
        f"Cross-validated ({report.folds} folds) micro F1: fitted weights {report.cv_fitted['micro_f1']:.2f} "
        f"vs equal weights {report.cv_equal['micro_f1']:.2f}; AUPRC {report.cv_fitted['auprc']:.2f} vs {report.cv_equal['auprc']:.2f}"
    )
    if report.gain:
        return report.weights, "auto", cv
    if force_weights:
        warn("cross-validation shows no gain over equal weights; using the fitted weights anyway (--force-weights)")
        return report.weights, "auto-forced", cv
    warn("cross-validation shows no gain over equal weights: falling back to equal weights (--force-weights keeps the fit)")
    return np.full(len(members), 1.0 / len(members)), "auto-fallback-equal", cv


def run_ensemble(
    *,
    members: Sequence[str | Path],
    root: str | Path = ".",
    method: Method | str = Method.soft,
    weights: Sequence[float] | str | None = None,
    name: str | None = None,
    seed: int = 0,
    labels: LabelSet | None = None,
    cv_folds: int = 5,
    force_weights: bool = False,
    use_valid: bool = True,
    folds: bool = False,
) -> Artifact:
    """Combine member probabilities and publish `ensembles/<NNNN>-<slug>/`.

    Args:
        members: probs.csv files, run / prediction / ensemble folders, artifact refs or globs.
        method: soft, weighted, hard or rank.
        weights: for `weighted`: one number per member (normalised) or "auto" (fitted on
            validation probabilities, cross-validated; equal weights when CV shows no gain
            unless `force_weights`).
        use_valid: False ignores the members' valid_probs.csv (no validation metrics).
        folds: the members are the fold runs of one k-fold training (`--fold i` each):
            test probabilities are averaged and the validation rows concatenated into
            out-of-fold probabilities.
    Returns:
        The published artifact: probs.csv, weights.json, and valid_probs.csv + metrics.json
        when every member has validation probabilities.
    Raises:
        KreError: bad members (mismatching ids, id sets or label orders) or options.
    """
    started = time.time()
    method = Method(method)
    if folds and (method is not Method.soft or weights is not None or not use_valid):
        raise ConfigError("--folds collects fold runs by averaging (soft) and needs their valid_probs.csv", hint="drop --method/--weights/--no-valid")
    sources = expand_member_args(list(members), root)
    if not use_valid:
        for source in sources:
            source.valid_path = None
    loaded, labels = load_members(sources, labels, same_valid_rows=not folds)
    if len(loaded) < 2:
        raise KreError(f"an ensemble needs at least two members, got {len(loaded)}", hint="pass more probs.csv files or run folders")
    fold_info = check_fold_members(loaded) if folds else None
    if fold_info is not None and fold_info["missing"]:
        from ..console import warn

        warn(f"folds {fold_info['missing']} of {fold_info['folds']} are missing: out-of-fold rows cover only folds {fold_info['present']}")
    w, w_source, cv = _resolve_weights(
        method, weights, loaded, labels, seed=seed, cv_folds=cv_folds, force_weights=force_weights
    )
    test_vote = combine(method, [m.test.probs for m in loaded], None if w is None else list(w))
    all_valid = all(m.valid is not None for m in loaded)
    valid_vote: Vote | None = None
    metrics: dict[str, Any] | None = None
    valid_table = out_of_fold(loaded) if fold_info is not None else (loaded[0].valid if all_valid else None)
    if all_valid and valid_table is not None:
        if fold_info is not None:  # each row has exactly one (out-of-fold) prediction
            valid_vote = Vote(valid_table.probs, valid_table.probs.argmax(axis=1))
        else:
            valid_vote = combine(method, [m.valid.probs for m in loaded], None if w is None else list(w))  # type: ignore[union-attr]
        gold = valid_table.gold_ids
        metrics = {
            "members": {
                m.name: score(m.valid.gold_ids, m.valid.probs, m.valid.pred_ids, labels) for m in loaded  # type: ignore[union-attr]
            },
            "ensemble": score(gold, valid_vote.probs, valid_vote.pred, labels, detail=True),
        }
        if cv is not None:
            metrics["cv"] = {"fitted": cv["cv_fitted"], "equal": cv["cv_equal"], "folds": cv["cv_folds"]}
    used = w if w is not None else np.full(len(loaded), 1.0 / len(loaded))
    params = {
        "method": method.value,
        "weights": [round(float(x), 6) for x in used],
        "weights_arg": weights if isinstance(weights, str) or weights is None else [float(x) for x in weights],
        "weights_source": w_source,
        "members": [m.name for m in loaded],
        "num_labels": len(labels),
        "seed": seed,
        "use_valid": use_valid,
        "folds": fold_info,
        **({"cv_folds": cv_folds, "force_weights": force_weights} if cv is not None else {}),
    }
    slug = name or (f"folds-{len(loaded)}" if folds else f"{method.value}-{len(loaded)}")
    store = ArtifactStore(root)
    with store.create("ensembles", slug, params=params, seed=seed) as b:
        for i, m in enumerate(loaded):
            if m.source.artifact is not None:
                b.add_input_artifact(m.source.artifact, f"member-{i}")
            b.add_input_file(m.source.probs_path, f"member-{i}-probs")
            if m.source.valid_path is not None:
                b.add_input_file(m.source.valid_path, f"member-{i}-valid-probs")
        first = loaded[0].test
        write_probs(
            b.path / "probs.csv", first.ids, test_vote.probs, labels,
            pred=[labels.name(int(i)) for i in test_vote.pred],
        )
        weights_doc: dict[str, Any] = {
            "method": method.value,
            "weights_source": w_source,
            "weights": [float(x) for x in used],
            "members": [{**m.describe(), "weight": float(x)} for m, x in zip(loaded, used)],
            "labels": list(labels.names),
            "cv": cv,
            "seed": seed,
        }
        if cv is not None:
            weights_doc["note"] = (
                "weights fitted on all validation rows: the ensemble's validation score is in-sample; "
                "the cross-validated score (cv) is the honest estimate"
            )
        write_json(b.path / "weights.json", weights_doc)
        if valid_vote is not None and metrics is not None:
            v = valid_table
            write_probs(
                b.path / "valid_probs.csv", v.ids, valid_vote.probs, labels,  # type: ignore[union-attr]
                gold=v.gold, pred=[labels.name(int(i)) for i in valid_vote.pred],  # type: ignore[union-attr]
            )
            write_json(b.path / "metrics.json", metrics)
            for key in ("micro_f1", "auprc", "accuracy"):
                b.metrics[key] = metrics["ensemble"][key]
            if cv is not None:
                b.metrics["cv_micro_f1"] = cv["cv_fitted"]["micro_f1"]
                b.metrics["cv_equal_micro_f1"] = cv["cv_equal"]["micro_f1"]
        b.info["duration_s"] = round(time.time() - started, 3)
        b.info["num_members"] = len(loaded)
    assert b.published is not None
    return b.published
