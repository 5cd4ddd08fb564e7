"""Adversarial validation: the shared classifier, `kre eda TRAIN TEST` and `kre split --like TEST`."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.adversarial import adversarial_validation, by_source
from kre.artifacts import ArtifactStore, load_artifact
from kre.data import Example
from kre.errors import ConfigError
from kre.split import build_groups, make_split
from kre.split.like import assign_like

MARK = "보도자료에 따르면"  # words only "test-like" sentences contain


def marked(rows: list[Example], prefix: str = MARK) -> list[Example]:
    """The rows with a prefix put in front of the sentence (entity offsets moved along)."""
    out = []
    for e in rows:
        shift = len(prefix) + 1
        out.append(replace(e, sentence=f"{prefix} {e.sentence}", subject=e.subject.shifted(shift), object=e.object.shifted(shift)))
    return out


def test_separable_sets_score_high_and_alike_sets_near_half() -> None:
    a = [e.sentence for e in synth_examples(200, seed=1)]
    b = [e.sentence for e in marked(synth_examples(80, seed=2))]
    res = adversarial_validation(a, b, seed=0)
    assert res.auc > 0.95 and len(res.fold_aucs) == 5
    assert res.scores_a.shape == (200,) and res.scores_b.shape == (80,)
    assert res.scores_b.mean() > res.scores_a.mean() + 0.3
    assert res.scores_a[0] == res.scores_a[1]  # two rows of one sentence share one score
    assert any(f["ngram"].strip() and f["ngram"].strip() in MARK for f in res.features["b"][:5])
    assert all(f["share_b"] > f["share_a"] for f in res.features["b"][:3])
    alike = adversarial_validation(a[:100], [e.sentence for e in synth_examples(100, seed=3)], seed=0)
    assert 0.3 < alike.auc < 0.7
    again = adversarial_validation(a, b, seed=0)
    assert np.array_equal(again.scores_a, res.scores_a) and again.auc == res.auc


def test_shared_sentences_and_refusals() -> None:
    a = [e.sentence for e in synth_examples(60, seed=1)]
    res = adversarial_validation(a, a[:20] + [e.sentence for e in synth_examples(30, seed=4)], folds=3)
    assert 0.0 <= res.auc <= 1.0  # sentences in both sets stay in one fold (no error, no leak)
    with pytest.raises(ConfigError, match="at least 5 distinct sentences"):
        adversarial_validation(a, a[:4])
    with pytest.raises(ConfigError, match="at least 2 folds"):
        adversarial_validation(a, a, folds=1)


def test_by_source_shares_and_scores() -> None:
    rows = by_source(["x", "x", "y", "y"], ["y", "y", "y", "x"], np.array([0.1, 0.2, 0.5, 0.7]), np.array([0.9, 0.8, 0.7, 0.2]))
    assert rows[0]["source"] in ("x", "y") and abs(rows[0]["share_b"] - rows[0]["share_a"]) == pytest.approx(0.25)
    y = next(r for r in rows if r["source"] == "y")
    assert (y["rows_a"], y["rows_b"], y["mean_score_a"], y["mean_score_b"]) == (2, 3, 0.6, 0.8)


# -- kre eda TRAIN TEST ---------------------------------------------------------------------------------------
def test_eda_reports_adversarial_auc_features_sources_and_plot(kre, tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.csv", synth_examples(160, seed=1))
    test_rows = [replace(e, source="wikitree") for e in marked(unlabeled(synth_examples(60, seed=2)))]
    test = write_examples(tmp_path / "test.csv", test_rows)
    root = tmp_path / "root"
    result = kre("eda", train, test, "--root", root, ok=True)
    assert "adversarial validation" in result.output and "ROC AUC" in result.output
    (art,) = ArtifactStore(root).list("eda")
    stats = json.loads((art / "stats.json").read_text(encoding="utf-8"))
    adv = stats["comparisons"][0]["adversarial"]
    assert adv["auc"] > 0.95 and load_artifact(art).metrics["adversarial_auc"] == adv["auc"]
    assert adv["sources"][0]["source"] == "wikitree" and adv["sources"][0]["share_b"] == 1.0
    assert len(adv["features"]["b"]) == 20 and abs(sum(adv["score_histogram"]["b"]) - 1.0) < 1e-3
    report = (art / "report.md").read_text(encoding="utf-8")
    assert "## Telling the files apart (adversarial validation)" in report and "(adversarial.png)" in report
    assert (art / "adversarial.png").read_bytes()[:4] == b"\x89PNG"
    kre("eda", train, test, "--root", root, "--no-adversarial", ok=True)
    second = ArtifactStore(root).list("eda")[1]
    assert "adversarial" not in json.loads((second / "stats.json").read_text(encoding="utf-8"))["comparisons"][0]
    assert not (second / "adversarial.png").exists()


def test_eda_skips_adversarial_on_too_few_sentences(kre, tmp_path: Path) -> None:
    train = write_examples(tmp_path / "train.csv", synth_examples(40, seed=1))
    test = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(6, seed=2)))  # 3 sentences < 5 folds
    kre("eda", train, test, "--root", tmp_path / "r", ok=True)
    (art,) = ArtifactStore(tmp_path / "r").list("eda")
    adv = json.loads((art / "stats.json").read_text(encoding="utf-8"))["comparisons"][0]["adversarial"]
    assert "at least 5 distinct sentences" in adv["skipped"]


# -- kre split --like TEST ------------------------------------------------------------------------------------
COMMON = ["no_relation", "per:title", "org:members", "per:employee_of"]


def like_data(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """Train: 200 two-pair sentences, a quarter of them test-like (marked, source wikitree); test: marked only."""
    rows = []
    for i, e in enumerate(synth_examples(400, seed=5)):
        rows.append(replace(e, label=COMMON[(i + i // 8) % len(COMMON)], source="wikipedia"))  # every class test-like too
    like_ids = {e.id for i, e in enumerate(rows) if (i // 2) % 4 == 0}
    rows = [replace(m, source="wikitree") if e.id in like_ids else e for e, m in zip(rows, marked(rows))]
    test = [replace(e, source="wikitree") for e in marked(unlabeled(synth_examples(80, seed=9)))]
    return write_examples(tmp_path / "train.csv", rows), write_examples(tmp_path / "test.csv", test), like_ids


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_split_like_picks_test_like_sentences_grouped_and_stratified(kre, tmp_path: Path) -> None:
    train, test, like_ids = like_data(tmp_path)
    root = tmp_path / "root"
    result = kre("split", train, "--like", test, "--valid-size", "0.2", "--root", root, ok=True)
    assert "Validation vs test" in result.output
    (art,) = ArtifactStore(root).list("splits")
    valid, rest = _rows(art / "valid.csv"), _rows(art / "train.csv")
    assert not {r["sentence"] for r in valid} & {r["sentence"] for r in rest}
    assert abs(len(valid) - 80) <= 4
    assert sum(r["id"] in like_ids for r in valid) / len(valid) > 0.9  # the 100 test-like rows fill valid first
    counts = Counter(r["label"] for r in valid)
    total = Counter(r["label"] for r in valid + rest)
    assert all(abs(counts[c] - 0.2 * n) <= 2 for c, n in total.items())  # still stratified
    report = json.loads((art / "report.json").read_text(encoding="utf-8"))
    like, plain = report["like"]["test_like"], report["like"]["plain"]
    assert report["like"]["train_vs_test"]["auc"] > 0.7
    assert like["auc_vs_test"] < plain["auc_vs_test"] and like["source_tvd"] < plain["source_tvd"]
    assert like["source_shares"]["wikitree"] > 0.9 and report["like"]["test"]["source_shares"] == {"wikitree": 1.0}
    manifest = load_artifact(art)
    assert [i["role"] for i in manifest.inputs] == ["data", "like"] and manifest.params["like"] == str(test)
    assert manifest.metrics["valid_vs_test_auc"] == like["auc_vs_test"] and art.name.endswith("-like")


def test_split_like_is_deterministic_and_keeps_folds(tmp_path: Path) -> None:
    train, test, _ = like_data(tmp_path)
    a = make_split(path=train, root=tmp_path / "a", like=test, folds=3, seed=1)
    b = make_split(path=train, root=tmp_path / "b", like=test, folds=3, seed=1)
    plain = make_split(path=train, root=tmp_path / "c", folds=3, seed=1)
    assert (a.path / "valid.csv").read_bytes() == (b.path / "valid.csv").read_bytes()
    assert (a.path / "valid.csv").read_bytes() != (plain.path / "valid.csv").read_bytes()
    assert (a.path / "folds.csv").read_bytes() == (plain.path / "folds.csv").read_bytes()  # --folds as before


def test_split_like_bad_test_file_is_refused(kre, tmp_path: Path) -> None:
    train, _, _ = like_data(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,sentence\n1,문장\n", encoding="utf-8")
    result = kre("split", train, "--like", bad, "--root", tmp_path / "r", ok=False)
    assert result.exit_code == 1 and "bad.csv" in result.output and "missing column" in result.output
    result = kre("split", train, "--like", tmp_path / "nope.csv", "--root", tmp_path / "r", ok=False)
    assert result.exit_code == 1 and "not found" in result.output
    assert not (tmp_path / "r" / "splits").exists() or not ArtifactStore(tmp_path / "r").list("splits")


def test_assign_like_quotas_and_coverage() -> None:
    labels = ["a"] * 40 + ["b"] * 40 + ["rare"] * 2 + ["single"]
    sentences = [f"s{i}" for i in range(len(labels))]
    groups = build_groups(sentences, labels)
    scores = [1.0 if i % 2 else 0.0 for i in range(len(groups))]  # odd groups look like the test set
    scores[81] = 0.0  # both "rare" groups score low: coverage still puts one in valid
    side = assign_like(groups, scores, 0.25, seed=0)
    valid = [g for g, s in zip(groups, side) if s == 1]
    got = Counter(lab for g in valid for lab in g.labels)
    assert got["a"] == 10 and got["b"] == 10 and got["rare"] == 1 and got["single"] == 0
    assert all(scores[groups.index(g)] == 1.0 for g in valid if g.labels[0] in ("a", "b"))


def test_group_folds_keep_groups_whole_and_balance_kinds() -> None:
    from kre.adversarial import group_folds

    y = np.array([0] * 50 + [1] * 30 + [0, 1] * 5)  # the last 5 groups hold one A and one B document each
    groups = np.concatenate([np.arange(80), np.repeat(np.arange(80, 85), 2)])
    fold_of = group_folds(y, groups, 5, seed=3)
    for g in range(80, 85):
        assert len(set(fold_of[groups == g])) == 1
    assert [int(((fold_of == f) & (y == 0)).sum()) for f in range(5)] == [11] * 5
    assert [int(((fold_of == f) & (y == 1)).sum()) for f in range(5)] == [7] * 5
    assert not np.array_equal(fold_of, group_folds(y, groups, 5, seed=4))
