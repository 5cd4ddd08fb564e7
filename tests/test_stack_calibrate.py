"""`kre ensemble --method stack` and `--calibrate`; the temperature-scaling library (kre.calibration)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kre.artifacts import load_artifact
from kre.calibration import (
    apply_temperature,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
    nll,
)
from kre.data.probs import read_probs
from kre.ensemble import run_ensemble
from kre.ensemble.stack import fit_stacker, stack_members
from kre.errors import ConfigError, KreError
from kre.labels import DEFAULT_LABELS

from test_ensemble import L3, P1, P2, labels_json, make_run, published  # noqa: F401 (fixture)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _complementary_members(n: int = 600, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Member A: a weak honest signal. Member B: a strong signal under shifted label names.

    B puts its confidence on label (gold + 1) mod 30, so soft voting mostly follows B's
    wrong name; a stacker learns the shift from B's columns and beats soft voting by far.
    Both members are over-confident, which temperature scaling corrects.
    """
    rng = np.random.default_rng(seed)
    k = len(DEFAULT_LABELS)
    gold = rng.integers(0, k, n)
    rows = np.arange(n)
    weak = rng.normal(size=(n, k))
    weak[rows, gold] += 1.0
    strong = rng.normal(size=(n, k))
    strong[rows, (gold + 1) % k] += 3.0
    return [_softmax(2.0 * weak), _softmax(2.0 * strong)], gold


# -- calibration library --------------------------------------------------------------
def test_temperature_recovers_a_known_sharpening():
    rng = np.random.default_rng(0)
    n, k = 3000, 5
    logits = rng.normal(size=(n, k)) * 1.5
    true = _softmax(logits)
    gold = np.array([rng.choice(k, p=p) for p in true])  # labels drawn from the true probabilities
    sharp = _softmax(logits * 2.5)  # a model 2.5x over-confident
    t = fit_temperature(sharp, gold)
    assert t == pytest.approx(2.5, rel=0.1)
    fixed = apply_temperature(sharp, t)
    np.testing.assert_allclose(fixed, true, atol=0.05)
    assert nll(fixed, gold) < nll(sharp, gold)
    assert expected_calibration_error(fixed, gold) < expected_calibration_error(sharp, gold)
    assert (fixed.argmax(axis=1) == sharp.argmax(axis=1)).all()


def test_ece_and_nll_by_hand():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    gold = np.array([0, 1, 1, 0])
    # 15 bins: 0.9 -> bin 13 (acc 1), 0.8 -> bin 11 (acc 0), 0.7 -> bin 10 (acc 1), 0.6 -> bin 8 (acc 1)
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(1 - 0.6)) / 4 * 100
    assert expected_calibration_error(probs, gold, bins=15) == pytest.approx(expected)
    # one bin: |mean accuracy - mean confidence| = |0.75 - 0.75|
    assert expected_calibration_error(probs, gold, bins=1) == pytest.approx(0.0)
    assert nll(probs, gold) == pytest.approx(-np.mean(np.log([0.9, 0.2, 0.7, 0.6])))
    np.testing.assert_allclose(apply_temperature(probs, 1.0), probs)


def test_calibration_refuses_bad_input():
    with pytest.raises(ConfigError, match="positive"):
        apply_temperature(np.ones((2, 2)) / 2, 0.0)
    with pytest.raises(ConfigError, match="outside"):
        nll(np.ones((2, 2)) / 2, np.array([0, 2]))
    with pytest.raises(ConfigError, match="one gold id per row"):
        fit_temperature(np.ones((3, 2)) / 2, np.array([0, 1]))


def test_calibration_report_has_in_sample_and_cross_validated_scores():
    members, gold = _complementary_members()
    rep = calibration_report(members[0], gold, cv_folds=5).to_dict()
    assert rep["temperature"] > 1.5  # softened
    assert rep["after"]["nll"] < rep["before"]["nll"] and rep["after_cv"]["nll"] < rep["before"]["nll"]
    assert rep["after"]["ece"] < rep["before"]["ece"]
    assert rep["ece_bins"] == 15 and rep["cv_folds"] == 5


# -- stacking library -------------------------------------------------------------------
def test_stacker_matches_sklearn_and_is_json_serialisable():
    from sklearn.linear_model import LogisticRegression

    members, gold = _complementary_members(n=300)
    model = fit_stacker(members, gold, 30, c=0.5)
    x = np.hstack([np.log(np.clip(m, 1e-6, None)) / np.log(1e6) for m in members])
    ref = LogisticRegression(C=0.5, max_iter=1000).fit(x, gold)
    ours = model.predict_proba(members)
    np.testing.assert_allclose(ours[:, ref.classes_], ref.predict_proba(x), atol=1e-6)
    json.dumps(model.to_dict(DEFAULT_LABELS))


def test_stacker_two_classes_and_unseen_labels():
    rng = np.random.default_rng(3)
    members = [rng.dirichlet(np.ones(3), size=40) for _ in range(2)]
    gold = (members[0][:, 1] > members[0][:, 2]).astype(int) + 1  # only labels 1 and 2 occur
    model = fit_stacker(members, gold, 3)
    p = model.predict_proba(members)
    assert p.shape == (40, 3) and np.allclose(p.sum(axis=1), 1) and (p[:, 0] == 0).all()
    assert (p.argmax(axis=1) == gold).mean() > 0.8
    report = stack_members(members, gold, L3, folds=4)
    assert report.unseen_labels == ["no_relation"]


def test_stack_members_cross_validates_against_soft():
    members, gold = _complementary_members()
    report = stack_members(members, gold, DEFAULT_LABELS, folds=5, seed=0)
    assert len(report.per_fold) == 5 and sum(f["n"] for f in report.per_fold) == len(gold)
    assert report.oof.shape == (len(gold), 30)
    np.testing.assert_allclose(report.oof.sum(axis=1), 1.0)
    assert report.cv_stack["micro_f1"] > report.soft["micro_f1"]
    with pytest.raises(ConfigError, match="too few"):
        stack_members([m[:6] for m in members], gold[:6], DEFAULT_LABELS, folds=5)


# -- kre ensemble --method stack / --calibrate ---------------------------------------------
def _runs(root, members, gold):
    ids = [str(i) for i in range(len(gold))]
    rng = np.random.default_rng(9)
    test = [rng.dirichlet(np.ones(30), size=25) for _ in members]
    return [
        make_run(root, f"s{i}", t, m, labels=DEFAULT_LABELS, ids=[f"t{j}" for j in range(25)], valid_ids=ids, gold=gold.tolist())
        for i, (t, m) in enumerate(zip(test, members))
    ], test


def test_cli_stack_reports_stack_against_soft_and_applies_to_test(kre, tmp_path):
    members, gold = _complementary_members()
    root = tmp_path / "art"
    runs, test = _runs(root, members, gold)
    res = kre("ensemble", *runs, "--method", "stack", "--root", root, ok=True)
    folder = published(root)[0]
    assert folder.name == "0001-stack-2"
    metrics = json.loads((folder / "metrics.json").read_text())
    st = metrics["stack"]
    assert st["soft"]["micro_f1"] < st["stack_out_of_fold"]["micro_f1"] == pytest.approx(metrics["ensemble"]["micro_f1"])
    assert st["stack_in_sample"]["micro_f1"] >= st["stack_out_of_fold"]["micro_f1"] - 1.0
    assert st["members_out_of_fold"] == [False, False] and len(st["per_fold"]) == 5
    meta = json.loads((folder / "stacker.json").read_text())
    assert len(meta["meta_model"]["coef"]) == 30 and len(meta["meta_model"]["coef"][0]) == 60
    # the test probabilities are the meta-model applied to the members' test probabilities
    from kre.ensemble.stack import Stacker

    mm = meta["meta_model"]
    model = Stacker(np.array(mm["coef"]), np.array(mm["intercept"]), np.array(DEFAULT_LABELS.ids(mm["classes"])), 30, mm["C"])
    out = read_probs(folder / "probs.csv")
    np.testing.assert_allclose(out.probs, model.predict_proba(test), atol=1e-6)
    valid = read_probs(folder / "valid_probs.csv")
    assert valid.gold == [DEFAULT_LABELS.name(int(g)) for g in gold]
    art = load_artifact(folder)
    assert art.params["method"] == "stack" and art.params["stack_c"] == 20.0
    assert art.metrics["soft_micro_f1"] == pytest.approx(st["soft"]["micro_f1"])
    assert "soft voting, same rows" in res.stdout and "stack, out-of-fold" in res.stdout


def test_stack_refused_without_validation_probabilities(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    run = make_run(root, "r", P1, P1)
    pred = make_run(root, "p", P2, kind="predictions")
    for extra in (["--method", "stack"], ["--calibrate"]):
        res = kre("ensemble", run, pred, *extra, "--labels", labels_json, "--root", root, ok=False)
        msg = " ".join(res.output.split())
        assert res.exit_code == 1 and "needs valid_probs.csv for every member" in msg and "predictions/0001-p" in msg
    res = kre("ensemble", run, run.parent / "0001-r", "--method", "stack", "--labels", labels_json, "--root", root, ok=False)
    assert "given twice" in res.output
    res = kre("ensemble", run, make_run(root, "x", P2, P2), "--method", "stack", "--no-valid", "--labels", labels_json, "--root", root, ok=False)
    assert "missing for: runs/0001-r, runs/0002-x" in " ".join(res.output.split())
    assert published(root) == []


def test_stack_refused_when_validation_rows_differ(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1, P1)
    b = make_run(root, "b", P2, P2, valid_ids=["10", "11", "13", "99"])
    res = kre("ensemble", a, b, "--method", "stack", "--labels", labels_json, "--root", root, ok=False)
    msg = " ".join(res.output.split())
    assert res.exit_code == 1 and str(b / "valid_probs.csv") in msg and "id" in msg
    with pytest.raises(KreError, match="too few"):
        run_ensemble(members=[a, make_run(root, "c", P2, P2)], root=root, method="stack", labels=L3)
    assert published(root) == []


def test_cli_calibrate_soft(kre, tmp_path):
    members, gold = _complementary_members()
    root = tmp_path / "art"
    runs, test = _runs(root, members, gold)
    res = kre("ensemble", *runs, "--calibrate", "--root", root, ok=True)
    folder = published(root)[0]
    cal = json.loads((folder / "calibration.json").read_text())
    soft_valid = np.mean(members, axis=0)
    t = fit_temperature(soft_valid, gold)
    assert cal["temperature"] == pytest.approx(t, rel=1e-4)
    assert cal["after"]["nll"] < cal["before"]["nll"] and cal["after_cv"]["nll"] < cal["before"]["nll"]
    out = read_probs(folder / "probs.csv")
    np.testing.assert_allclose(out.probs, apply_temperature(np.mean(test, axis=0), cal["temperature"]), atol=1e-9)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["calibration"] == cal
    art = load_artifact(folder)
    assert art.params["calibrate"] is True and art.metrics["ece_after"] == pytest.approx(cal["after"]["ece"])
    assert "Temperature scaling" in res.stdout and "ECE" in res.stdout
    # calibration keeps the predictions: same F1 as without it
    plain = run_ensemble(members=runs, root=root)
    assert json.loads(plain.file("metrics.json").read_text())["ensemble"]["micro_f1"] == pytest.approx(metrics["ensemble"]["micro_f1"])
