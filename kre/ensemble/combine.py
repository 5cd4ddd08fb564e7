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
from .stack import StackReport, stack_members
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


def _require_valid(method: Method, calibrate: bool, members: list[Member]) -> None:
    """Stacking and calibration learn from validation probabilities: every member needs them."""
    needs = [what for what, on in (("--method stack", method is Method.stack), ("--calibrate", calibrate)) if on]
    if not needs:
        return
    lacking = [m.name for m in members if m.valid is None]
    if lacking:
        raise ConfigError(
            f"{' and '.join(needs)} needs valid_probs.csv for every member; missing for: {', '.join(lacking)}",
            hint="pass run folders whose valid_probs.csv covers the same validation rows (and drop --no-valid)",
        )


def _is_out_of_fold(member: Member) -> bool:
    """True when a member's validation probabilities are out-of-fold (a k-fold run of every fold)."""
    art = member.source.artifact
    params = art.params if art is not None else {}
    return bool(art is not None and art.kind == "runs" and int(params.get("folds") or 0) > 1 and params.get("fold") is None)


def _say_stack(report: StackReport) -> None:
    from ..console import info, warn

    info(
        f"Cross-validated ({report.folds} folds) micro F1: stacking {report.cv_stack['micro_f1']:.2f} vs soft voting "
        f"{report.soft['micro_f1']:.2f}; AUPRC {report.cv_stack['auprc']:.2f} vs {report.soft['auprc']:.2f}"
    )
    if report.gain <= 0:
        warn("stacking does not beat soft voting in cross-validation on these validation rows")
    if not report.stacker.converged:
        warn("the meta-model did not converge in 1000 iterations; a smaller --stack-c regularises it more")
    if report.unseen_labels:
        shown = ", ".join(report.unseen_labels[:5]) + (" ..." if len(report.unseen_labels) > 5 else "")
        warn(f"{len(report.unseen_labels)} label(s) never occur in the validation rows, so the stacker never predicts them: {shown}")


def _calibrate(valid: Vote, test: Vote, gold: np.ndarray, *, seed: int, cv_folds: int) -> tuple[Vote, Vote, dict[str, Any]]:
    """Temperature-scale both votes with T fitted on the validation rows (predictions stay)."""
    from ..calibration import apply_temperature, calibration_report
    from ..console import info

    report = calibration_report(valid.probs, gold, cv_folds=cv_folds, seed=seed)
    info(
        f"Temperature {report.temperature:.3f}: NLL {report.before['nll']:.4f} -> {report.after['nll']:.4f}, "
        f"ECE {report.before['ece']:.2f} -> {report.after['ece']:.2f}"
    )
    t = report.temperature
    return Vote(apply_temperature(valid.probs, t), valid.pred), Vote(apply_temperature(test.probs, t), test.pred), report.to_dict()


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
    stack_c: float = 20.0,
    calibrate: bool = False,
) -> Artifact:
    """Combine member probabilities and publish `ensembles/<NNNN>-<slug>/`.

    Args:
        members: probs.csv files, run / prediction / ensemble folders, artifact refs or globs.
        method: soft, weighted, hard, rank, or stack (a meta-model on the validation
            probabilities, cross-validated against soft voting).
        weights: for `weighted`: one number per member (normalised) or "auto" (fitted on
            validation probabilities, cross-validated; equal weights when CV shows no gain
            unless `force_weights`).
        use_valid: False ignores the members' valid_probs.csv (no validation metrics).
        folds: the members are the fold runs of one k-fold training (`--fold i` each):
            test probabilities are averaged and the validation rows concatenated into
            out-of-fold probabilities.
        stack_c: inverse L2 strength of the `stack` meta-model (scikit-learn's C).
        calibrate: fit one temperature on the ensemble's validation probabilities (minimum
            NLL) and apply it to the test and validation probabilities (calibration.json).
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
    _require_valid(method, calibrate, loaded)
    fold_info = check_fold_members(loaded) if folds else None
    if fold_info is not None and fold_info["missing"]:
        from ..console import warn

        warn(f"folds {fold_info['missing']} of {fold_info['folds']} are missing: out-of-fold rows cover only folds {fold_info['present']}")
    w, w_source, cv = _resolve_weights(
        method, weights, loaded, labels, seed=seed, cv_folds=cv_folds, force_weights=force_weights
    )
    all_valid = all(m.valid is not None for m in loaded)
    valid_vote: Vote | None = None
    metrics: dict[str, Any] | None = None
    valid_table = out_of_fold(loaded) if fold_info is not None else (loaded[0].valid if all_valid else None)
    stacked: StackReport | None = None
    if method is Method.stack:
        assert valid_table is not None
        stacked = stack_members([m.valid.probs for m in loaded], valid_table.gold_ids, labels,  # type: ignore[union-attr]
                                folds=cv_folds, c=stack_c, seed=seed)
        _say_stack(stacked)
        test_probs = stacked.stacker.predict_proba([m.test.probs for m in loaded])
        test_vote = Vote(test_probs, test_probs.argmax(axis=1))
        w_source = "stack"
    else:
        test_vote = combine(method, [m.test.probs for m in loaded], None if w is None else list(w))
    calibration: dict[str, Any] | None = None
    if all_valid and valid_table is not None:
        if stacked is not None:  # every row predicted by a meta-model fitted without it
            valid_vote = Vote(stacked.oof, stacked.oof.argmax(axis=1))
        elif fold_info is not None:  # each row has exactly one (out-of-fold) prediction
            valid_vote = Vote(valid_table.probs, valid_table.probs.argmax(axis=1))
        else:
            valid_vote = combine(method, [m.valid.probs for m in loaded], None if w is None else list(w))  # type: ignore[union-attr]
        gold = valid_table.gold_ids
        if calibrate:
            valid_vote, test_vote, calibration = _calibrate(valid_vote, test_vote, gold, seed=seed, cv_folds=cv_folds)
        metrics = {
            "members": {
                m.name: score(m.valid.gold_ids, m.valid.probs, m.valid.pred_ids, labels) for m in loaded  # type: ignore[union-attr]
            },
            "ensemble": score(gold, valid_vote.probs, valid_vote.pred, labels, detail=True),
        }
        if cv is not None:
            metrics["cv"] = {"fitted": cv["cv_fitted"], "equal": cv["cv_equal"], "folds": cv["cv_folds"]}
        if stacked is not None:
            soft_vote = combine(Method.soft, [m.valid.probs for m in loaded])  # type: ignore[union-attr]
            in_sample = stacked.stacker.predict_proba([m.valid.probs for m in loaded])  # type: ignore[union-attr]
            metrics["stack"] = {
                "cv_folds": stacked.folds,
                "stack_out_of_fold": metrics["ensemble"] if not calibrate else score(gold, stacked.oof, stacked.oof.argmax(axis=1), labels),
                "soft": score(gold, soft_vote.probs, soft_vote.pred, labels),
                "stack_in_sample": score(gold, in_sample, in_sample.argmax(axis=1), labels),
                "members_out_of_fold": [_is_out_of_fold(m) for m in loaded],
                "per_fold": stacked.per_fold,
                "unseen_labels": stacked.unseen_labels,
            }
        if calibration is not None:
            metrics["calibration"] = calibration
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
        **({"cv_folds": cv_folds, "stack_c": stack_c} if stacked is not None else {}),
        "calibrate": calibrate,
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
        if stacked is not None:
            weights_doc["note"] = "stacking: the meta-model in stacker.json combines the members; these weights are not used"
            write_json(b.path / "stacker.json", stacked.to_dict(labels))
        if calibration is not None:
            write_json(b.path / "calibration.json", calibration)
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
            if stacked is not None:
                b.metrics["soft_micro_f1"] = metrics["stack"]["soft"]["micro_f1"]
            if calibration is not None:
                b.metrics["temperature"] = calibration["temperature"]
                b.metrics["ece_before"] = calibration["before"]["ece"]
                b.metrics["ece_after"] = calibration["after"]["ece"]
        b.info["duration_s"] = round(time.time() - started, 3)
        b.info["num_members"] = len(loaded)
    assert b.published is not None
    return b.published
