"""`kre ensemble`: voting rules against hand-computed results, weight fitting, member checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kre.artifacts import ArtifactStore, load_artifact
from kre.data.probs import read_probs, write_probs
from kre.ensemble import fit_weights, hard, rank, run_ensemble, soft, weighted
from kre.ensemble.fit import fast_auprc, fast_micro_f1
from kre.errors import ConfigError, DataError, KreError
from kre.labels import DEFAULT_LABELS, LabelSet
from kre.metrics import auprc, micro_f1

L3 = LabelSet(("no_relation", "org:a", "per:b"))

# Three members, four rows, three labels (hand-computed expectations below).
P1 = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.45, 0.55, 0.0]])
P2 = np.array([[0.2, 0.7, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.45, 0.55, 0.0]])
P3 = np.array([[0.5, 0.1, 0.4], [0.1, 0.2, 0.7], [0.3, 0.6, 0.1], [1.0, 0.0, 0.0]])
GOLD = [0, 2, 1, 1]
IDS = ["10", "11", "12", "13"]


# -- voting rules -------------------------------------------------------------------
def test_soft_is_the_mean():
    vote = soft([P1, P2, P3])
    expected = np.array(
        [[1.3 / 3, 1.1 / 3, 0.6 / 3], [0.6 / 3, 1.0 / 3, 1.4 / 3], [0.9 / 3, 1.1 / 3, 1.0 / 3], [1.9 / 3, 1.1 / 3, 0.0]]
    )
    np.testing.assert_allclose(vote.probs, expected)
    assert vote.pred.tolist() == [0, 2, 1, 0]


def test_weighted_normalises_explicit_weights():
    vote = weighted([P1, P2, P3], [2, 1, 1])  # -> 0.5, 0.25, 0.25
    np.testing.assert_allclose(vote.probs[0], [0.475, 0.35, 0.175])
    np.testing.assert_allclose(vote.probs[2], [0.25, 0.30, 0.45])
    np.testing.assert_allclose(vote.probs[3], [0.5875, 0.4125, 0.0])
    assert vote.pred.tolist() == [0, 2, 2, 0]
    np.testing.assert_allclose(vote.probs.sum(axis=1), 1.0)
    with pytest.raises(ConfigError, match="2 value"):
        weighted([P1, P2, P3], [0.5, 0.5])
    with pytest.raises(ConfigError, match="non-negative"):
        weighted([P1, P2], [1.0, -0.5])


def test_hard_majority_vote_with_mean_probabilities():
    vote = hard([P1, P2, P3])
    # row 0: votes 0,1,0 -> 0; row 1: 1,2,2 -> 2; row 2: 2,0,1 three-way tie -> highest mean (label 1);
    # row 3: votes 1,1,0 -> 1 although the mean probability favours label 0.
    assert vote.pred.tolist() == [0, 2, 1, 1]
    np.testing.assert_allclose(vote.probs, soft([P1, P2, P3]).probs)


def test_hard_tie_is_broken_among_the_tied_labels_only():
    a = np.array([[0.5, 0.4, 0.1]])
    b = np.array([[0.1, 0.45, 0.46]])
    # votes: label 0 and label 2 (one each); the mean [0.3, 0.425, 0.28] is highest for label 1,
    # which got no vote: the tie goes to label 0 (0.3 > 0.28).
    assert hard([a, b]).pred.tolist() == [0]


def test_rank_averages_rank_normalised_scores():
    a = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.3, 0.7], [0.8, 0.2], [0.5, 0.5]])
    vote = rank([a, b])
    # ranks/3 -> a: [1, 1/3], [2/3, 2/3], [1/3, 1]; b: [1/3, 1], [1, 1/3], [2/3, 2/3]
    # mean: [2/3, 2/3], [5/6, 1/2], [1/2, 5/6] -> rows renormalised to sum 1
    np.testing.assert_allclose(vote.probs, [[0.5, 0.5], [5 / 8, 3 / 8], [3 / 8, 5 / 8]])
    assert vote.pred.tolist()[1:] == [0, 1]
    # ties get the average rank: [0.5, 0.5, 0.1] -> ranks [2.5, 2.5, 1] / 3
    tie = rank([np.array([[0.5, 0.2], [0.5, 0.3], [0.1, 0.9]])] * 2)
    raw = np.array([[2.5 / 3, 1 / 3], [2.5 / 3, 2 / 3], [1 / 3, 1.0]])
    np.testing.assert_allclose(tie.probs, raw / raw.sum(axis=1, keepdims=True))


def test_fast_micro_f1_matches_the_metric():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 30, 500)
    pred = np.where(rng.random(500) < 0.5, gold, rng.integers(0, 30, 500))
    assert fast_micro_f1(gold, pred, DEFAULT_LABELS.no_relation_id) == pytest.approx(micro_f1(gold, pred, DEFAULT_LABELS))


def test_fast_auprc_matches_the_metric():
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 12, 60)  # 60 rows over 30 labels: some labels absent
    probs = rng.dirichlet(np.ones(30), size=60)
    probs[:10] = np.round(probs[:10], 1)  # tied scores
    assert fast_auprc(gold, probs) == pytest.approx(auprc(gold, probs, 30), abs=1e-9)


# -- artifacts built for the tests ------------------------------------------------------
def make_run(
    root: Path,
    name: str,
    test: np.ndarray | None,
    valid: np.ndarray | None = None,
    *,
    labels: LabelSet = L3,
    ids: list[str] = IDS,
    valid_ids: list[str] = IDS,
    gold: list[int] = GOLD,
    kind: str = "runs",
    write_labels: LabelSet | None = None,
    record_labels: LabelSet | None = None,
) -> Path:
    """A run (or prediction) artifact with probs.csv and optional valid_probs.csv, as `kre train` writes them."""
    store = ArtifactStore(root)
    params = {"model": "tiny", "marker": "typed_punct", "head": "cls", "loss": "ce", "lr": 5e-5,
              "batch_size": 16, "epochs": 1, "seed": 0, "folds": 0}
    with store.create(kind, name, params=params, seed=0) as b:
        if test is not None:
            write_probs(b.path / "probs.csv", ids, test, write_labels or labels)
        if valid is not None:
            write_probs(b.path / "valid_probs.csv", valid_ids, valid, write_labels or labels,
                        gold=[labels.name(g) for g in gold])
            b.metrics["micro_f1"] = 1.0
        if record_labels is not None:
            (b.path / "labels.json").write_text(json.dumps(list(record_labels.names)), encoding="utf-8")
        b.info["duration_s"] = 1.0
    assert b.published is not None
    return b.published.path


@pytest.fixture
def labels_json(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(list(L3.names)), encoding="utf-8")
    return path


@pytest.fixture
def three_runs(tmp_path: Path) -> list[Path]:
    root = tmp_path / "art"
    return [make_run(root, f"m{i}", p, p) for i, p in enumerate((P1, P2, P3))]


def published(root: Path) -> list[Path]:
    return ArtifactStore(root).list("ensembles")


# -- kre ensemble end to end ---------------------------------------------------------------
def test_cli_hard_vote_writes_submission_weights_and_metrics(kre, tmp_path, three_runs, labels_json):
    root = tmp_path / "art"
    res = kre("ensemble", *three_runs, "--method", "hard", "--labels", labels_json, "--root", root, "--name", "vote", ok=True)
    folder = root / "ensembles" / "0001-vote"
    assert folder.is_dir() and str(folder.relative_to(root)) in res.stdout
    art = load_artifact(folder)
    out = read_probs(folder / "probs.csv", L3)
    assert out.ids == IDS
    np.testing.assert_allclose(out.probs, soft([P1, P2, P3]).probs)
    with open(folder / "probs.csv", encoding="utf-8") as fh:
        preds = [line.split(",")[1] for line in fh.read().splitlines()[1:]]
    assert preds == ["no_relation", "per:b", "org:a", "org:a"]  # the vote, not the mean's argmax (row 4)
    weights = json.loads((folder / "weights.json").read_text())
    assert weights["method"] == "hard" and weights["weights"] == pytest.approx([1 / 3] * 3)
    assert [m["artifact"] for m in weights["members"]] == ["runs/0001-m0", "runs/0002-m1", "runs/0003-m2"]
    from kre.fileio import sha256_file

    assert weights["members"][0]["probs_sha256"] == sha256_file(three_runs[0] / "probs.csv")
    # gold [0, 2, 1, 1]; hard preds [0, 2, 1, 1] -> micro F1 100; member 1 preds [0, 1, 2, 1] -> 1 tp of 3/3 -> 33.3
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["ensemble"]["micro_f1"] == pytest.approx(100.0)
    assert metrics["members"]["runs/0001-m0"]["micro_f1"] == pytest.approx(100 / 3)
    assert art.metrics["micro_f1"] == pytest.approx(100.0) and art.metrics["accuracy"] == pytest.approx(100.0)
    valid = read_probs(folder / "valid_probs.csv", L3)
    assert valid.gold == [L3.name(g) for g in GOLD]
    assert "valid micro F1" in res.stdout and "33.33" in res.stdout
    roles = [i["role"] for i in art.inputs]
    assert "member-0" in roles and "member-0-probs" in roles and "member-2-valid-probs" in roles


def test_cli_soft_and_quoted_glob(kre, tmp_path, three_runs, labels_json):
    root = tmp_path / "art"
    kre("ensemble", "runs/*/probs.csv", "--labels", labels_json, "--root", root, ok=True)  # glob relative to --root
    folder = published(root)[0]
    assert folder.name == "0001-soft-3"
    metrics = json.loads((folder / "metrics.json").read_text())
    # soft preds [0, 2, 1, 0] vs gold [0, 2, 1, 1]: tp 2, 2 predicted, 3 gold -> F1 = 4/5
    assert metrics["ensemble"]["micro_f1"] == pytest.approx(80.0)
    assert len(metrics["members"]) == 3


def test_cli_weighted_explicit(kre, tmp_path, three_runs, labels_json):
    root = tmp_path / "art"
    kre("ensemble", *three_runs, "--weights", "2,1,1", "--labels", labels_json, "--root", root, ok=True)
    folder = published(root)[0]
    out = read_probs(folder / "probs.csv", L3)
    np.testing.assert_allclose(out.probs, weighted([P1, P2, P3], [0.5, 0.25, 0.25]).probs)
    weights = json.loads((folder / "weights.json").read_text())
    assert weights["weights"] == pytest.approx([0.5, 0.25, 0.25]) and weights["weights_source"] == "explicit"
    assert load_artifact(folder).params["method"] == "weighted"


def test_cli_rank(kre, tmp_path, three_runs, labels_json):
    root = tmp_path / "art"
    kre("ensemble", *three_runs, "--method", "rank", "--labels", labels_json, "--root", root, ok=True)
    out = read_probs(published(root)[0] / "probs.csv", L3)
    np.testing.assert_allclose(out.probs, rank([P1, P2, P3]).probs)
    np.testing.assert_allclose(out.probs.sum(axis=1), 1.0)


def test_weight_count_must_match_members(kre, tmp_path, three_runs, labels_json):
    root = tmp_path / "art"
    res = kre("ensemble", *three_runs, "--weights", "0.5,0.5", "--labels", labels_json, "--root", root, ok=False)
    assert res.exit_code == 1 and "2 value(s) for 3 member(s)" in res.output
    res = kre("ensemble", *three_runs, "--method", "soft", "--weights", "1,1,1", "--labels", labels_json, "--root", root, ok=False)
    assert "only applies to --method weighted" in res.output
    assert published(root) == []


def test_prediction_folder_member_means_no_validation_metrics(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    run = make_run(root, "r", P1, P1)
    pred = make_run(root, "p", P2, kind="predictions")
    res = kre("ensemble", run, pred, "--labels", labels_json, "--root", root, ok=True)
    folder = published(root)[0]
    assert (folder / "probs.csv").is_file() and (folder / "weights.json").is_file()
    assert not (folder / "valid_probs.csv").exists() and not (folder / "metrics.json").exists()
    assert "no validation metrics" in res.stdout.lower()
    res = kre("ensemble", run, pred, "--weights", "auto", "--labels", labels_json, "--root", root, ok=False)
    assert "needs valid_probs.csv for every member" in res.output and "predictions/0001-p" in res.output


# -- auto weights ------------------------------------------------------------------------------
def _synthetic_members(n: int = 400, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Member 0 = the truth plus noise; members 1 and 2 = confident random guesses."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, len(DEFAULT_LABELS), n)
    logits = rng.normal(size=(n, len(DEFAULT_LABELS)))
    logits[np.arange(n), gold] += 2.5
    good = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    noise = [rng.dirichlet(np.full(len(DEFAULT_LABELS), 0.1), size=n) for _ in range(2)]
    return [good, *noise], gold


def test_fit_weights_concentrates_on_the_informative_member():
    members, gold = _synthetic_members()
    report = fit_weights(members, gold, DEFAULT_LABELS, seed=0, folds=5)
    assert report.weights.sum() == pytest.approx(1.0)
    assert report.weights[0] > 0.6 and report.weights[0] == report.weights.max()
    assert report.cv_fitted["micro_f1"] > report.cv_equal["micro_f1"] + 5
    assert report.gain
    for fold in report.per_fold:
        assert fold["weights"][0] == max(fold["weights"])
    again = fit_weights(members, gold, DEFAULT_LABELS, seed=0, folds=5)
    np.testing.assert_array_equal(again.weights, report.weights)  # fixed seed: same fit


def test_fit_weights_refuses_too_few_rows():
    members, gold = _synthetic_members(n=6)
    with pytest.raises(ConfigError, match="too few"):
        fit_weights(members, gold, DEFAULT_LABELS, folds=5)


def _write_synthetic_runs(root: Path, members: list[np.ndarray], gold: np.ndarray) -> list[Path]:
    ids = [str(i) for i in range(len(gold))]
    rng = np.random.default_rng(5)
    return [
        make_run(root, f"s{i}", rng.dirichlet(np.ones(30), size=20), m, labels=DEFAULT_LABELS,
                 ids=[f"t{j}" for j in range(20)], valid_ids=ids, gold=gold.tolist())
        for i, m in enumerate(members)
    ]


def test_cli_auto_weights_cross_validated(kre, tmp_path):
    members, gold = _synthetic_members()
    root = tmp_path / "art"
    runs = _write_synthetic_runs(root, members, gold)
    res = kre("ensemble", *runs, "--weights", "auto", "--root", root, ok=True)
    folder = published(root)[0]
    weights = json.loads((folder / "weights.json").read_text())
    assert weights["weights_source"] == "auto"
    assert weights["weights"][0] > 0.6
    cv = weights["cv"]
    assert cv["gain"] is True and cv["cv_fitted"]["micro_f1"] > cv["cv_equal"]["micro_f1"]
    assert len(cv["per_fold"]) == 5
    art = load_artifact(folder)
    assert art.metrics["cv_micro_f1"] == pytest.approx(cv["cv_fitted"]["micro_f1"])
    assert "equal weights (CV)" in res.stdout


def test_auto_weights_fall_back_to_equal_without_cv_gain(tmp_path):
    members, gold = _synthetic_members(n=100)
    root = tmp_path / "art"
    runs = _write_synthetic_runs(root, [members[0]] * 3, gold)  # identical members: no weighting can help
    art = run_ensemble(members=runs, root=root, method="weighted", weights="auto")
    weights = json.loads(art.file("weights.json").read_text())
    assert weights["weights_source"] == "auto-fallback-equal"
    assert weights["weights"] == pytest.approx([1 / 3] * 3)
    assert weights["cv"]["gain"] is False
    forced = run_ensemble(members=runs, root=root, method="weighted", weights="auto", force_weights=True)
    fw = json.loads(forced.file("weights.json").read_text())
    assert fw["weights_source"] == "auto-forced"
    assert fw["weights"] == pytest.approx(fw["cv"]["fitted_weights_all_rows"])


# -- refused members -----------------------------------------------------------------------------
def _refused(kre, root: Path, labels_json: Path, *members: Path) -> str:
    res = kre("ensemble", *members, "--labels", labels_json, "--root", root, ok=False)
    assert res.exit_code == 1
    assert published(root) == [], "no artifact may be written"
    assert not list((root / "ensembles").glob(".staging-*")) if (root / "ensembles").exists() else True
    return " ".join(res.output.split())


def test_refuses_different_id_order(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1, P1)
    b = make_run(root, "b", P2[[0, 2, 1, 3]], ids=["10", "12", "11", "13"])
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b / "probs.csv") in msg and "id order differs" in msg
    assert "row 2 has id 12" in msg and "has id 11" in msg


def test_refuses_different_id_sets(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1, P1)
    b = make_run(root, "b", P2, ids=["10", "11", "99", "13"])
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b / "probs.csv") in msg and "id set differs" in msg and "id 99" in msg
    c = make_run(root, "c", P2[:3], ids=IDS[:3])
    msg = _refused(kre, root, labels_json, a, c)
    assert str(c / "probs.csv") in msg and "id 13" in msg and "missing" in msg


def test_refuses_different_validation_ids_and_gold(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1, P1)
    b = make_run(root, "b", P2, P2, valid_ids=["10", "11", "13", "12"])
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b / "valid_probs.csv") in msg and "id 13" in msg
    c = make_run(root, "c", P2, P2, gold=[0, 2, 1, 2])
    msg = _refused(kre, root, labels_json, a, c)
    assert str(c / "valid_probs.csv") in msg and "id 13" in msg and "gold label" in msg


def test_refuses_different_label_count(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    four = LabelSet(("no_relation", "org:a", "per:b", "per:c"))
    b = make_run(root, "b", np.hstack([P2, np.zeros((4, 1))]), labels=four)
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b / "probs.csv") in msg and "row 1" in msg and "id 10" in msg and "4 probabilities, expected 3" in msg


def test_refuses_different_label_order(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    swapped = LabelSet(("no_relation", "per:b", "org:a"))
    # the same predictions written in another label order: pred_label names betray it
    b = make_run(root, "b", P2[:, [0, 2, 1]], write_labels=swapped)
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b / "probs.csv") in msg and "id 10" in msg and "label order" in msg
    # a run folder that records its label order (labels.json) is checked against the ensemble's
    c = make_run(root, "c", P2, record_labels=swapped)
    msg = _refused(kre, root, labels_json, a, c)
    assert str(c) in msg and "label order differs at position 1: 'per:b' where the ensemble has 'org:a'" in msg


def test_refuses_recorded_label_order(tmp_path):
    from kre.ensemble.members import check_label_order

    with pytest.raises(KreError, match="position 1: 'per:b' where the ensemble has 'org:a'"):
        check_label_order(tmp_path, ("no_relation", "per:b", "org:a"), L3)
    check_label_order(tmp_path, L3.names, L3)


def test_refuses_changed_member_file_and_duplicates(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    b = make_run(root, "b", P2)
    msg = _refused(kre, root, labels_json, a, a / "probs.csv")
    assert "given twice" in msg
    text = (b / "probs.csv").read_text().replace("0.7", "0.8", 1)
    (b / "probs.csv").write_text(text)
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b) in msg and "changed since runs/0002-b" in msg and "probs.csv changed" in msg
    msg = _refused(kre, root, labels_json, a, tmp_path / "nope" / "*.csv")
    assert "matches no file" in msg


def test_run_without_probs_is_refused(tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    b = make_run(root, "b", None, P2)
    with pytest.raises(KreError, match="has no probs.csv"):
        run_ensemble(members=[a, b], root=root, labels=L3)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label\n1,no_relation\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing column"):
        run_ensemble(members=[a, bad], root=root, labels=L3)


def test_no_valid_ignores_mismatching_validation_files(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1, P1)
    kfold = make_run(root, "k", P2, np.vstack([P2, P3[:1]]), valid_ids=[*IDS, "14"], gold=[*GOLD, 0])  # out-of-fold: more rows
    msg = _refused(kre, root, labels_json, a, kfold)
    assert str(kfold / "valid_probs.csv") in msg and "id 14" in msg and "--no-valid" in msg
    kre("ensemble", a, kfold, "--no-valid", "--labels", labels_json, "--root", root, ok=True)
    folder = published(root)[0]
    assert not (folder / "metrics.json").exists()
    assert [i["role"] for i in load_artifact(folder).inputs if "valid" in i["role"]] == []


def test_refuses_rows_that_do_not_sum_to_one(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    scaled = make_run(root, "x3", P2 * 3)  # a member scaled x3 would decide every row
    msg = _refused(kre, root, labels_json, a, scaled)
    assert str(scaled / "probs.csv") in msg and "row 1" in msg and "sum to 3" in msg


def test_refuses_a_file_copied_into_a_published_run(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    b = make_run(root, "b", None, P2)  # published without probs.csv
    (b / "probs.csv").write_bytes((a / "probs.csv").read_bytes())
    msg = _refused(kre, root, labels_json, a, b)
    assert str(b) in msg and "probs.csv" in msg and "changed since" in msg


def test_refuses_probs_replaced_by_a_link_to_an_outside_file(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    b = make_run(root, "b", P2)
    outside = tmp_path / "outside.csv"
    outside.write_bytes((b / "probs.csv").read_bytes())
    (b / "probs.csv").unlink()
    (b / "probs.csv").symlink_to(outside)
    for member in (b, b / "probs.csv"):
        res = kre("ensemble", a, member, "--labels", labels_json, "--root", root, ok=False)
        assert res.exit_code == 1 and "symbolic link" in res.output and "Traceback" not in res.output


def test_refuses_a_member_with_an_edited_manifest(kre, tmp_path, labels_json):
    root = tmp_path / "art"
    a = make_run(root, "a", P1)
    b = make_run(root, "b", P2)
    manifest = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    manifest["metrics"]["micro_f1"] = 99.9
    (b / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    msg = _refused(kre, root, labels_json, a, b / "probs.csv")
    assert "manifest.json" in msg and "edited" in msg
