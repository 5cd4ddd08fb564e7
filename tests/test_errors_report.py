"""`kre errors`: validation mistakes grouped by (gold, predicted), costs, breakdowns, HTML/Markdown, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, write_examples
from kre.artifacts import ArtifactStore, load_artifact
from kre.data import Entity, Example
from kre.data.probs import write_probs
from kre.errors import KreError
from kre.errors_report import load_predictions, run_errors
from kre.labels import DEFAULT_LABELS as L
from kre.metrics import micro_f1

NASTY = '<script>alert("x")</script> 김구 | 한국은행 & *별* [링크](http://x)'


def nasty_example(ex_id: str) -> Example:
    s = NASTY
    subj = Entity("김구", s.index("김구"), s.index("김구") + 1, "PER")
    obj = Entity("한국은행", s.index("한국은행"), s.index("한국은행") + 3, "ORG")
    return Example(ex_id, s, subj, obj, "per:employee_of", "wikitree")


def make_split(root: Path) -> tuple[Path, list[Example], list[Example]]:
    rows = synth_examples(80, seed=4)
    train, valid = rows[:40], rows[40:] + [nasty_example("999")]
    store = ArtifactStore(root)
    with store.create("splits", "s", params={"valid_size": 0.5}) as b:
        write_examples(b.path / "train.csv", train)
        write_examples(b.path / "valid.csv", valid)
    return b.published.path, train, valid  # type: ignore[union-attr]


def probs_for(gold: list[int], pred: list[int]) -> np.ndarray:
    p = np.full((len(gold), len(L)), 0.1 / (len(L) - 1))
    p[np.arange(len(pred)), pred] = 0.9
    return p


def make_run(root: Path, data: Path, rows: list[Example], pred: list[int], *, name: str = "r", params: dict | None = None) -> Path:
    store = ArtifactStore(root)
    data_art = load_artifact(data)
    with store.create("runs", name, params={"data": data_art.id, "folds": 0, **(params or {})}) as b:
        b.add_input_artifact(data_art, "data")
        gold = [e.label for e in rows]
        write_probs(b.path / "valid_probs.csv", [e.id for e in rows], probs_for(L.ids(gold), pred), L, gold=gold)
        write_probs(b.path / "probs.csv", ["t1", "t2"], probs_for([0, 0], [0, 1]), L)
    return b.published.path  # type: ignore[union-attr]


def mistakes(valid: list[Example]) -> list[int]:
    """Right, except 3 no_relation rows -> per:title, 2 no_relation rows -> org:members, the nasty row -> per:origin."""
    gold = L.ids([e.label for e in valid])
    pred = list(gold)
    nr_rows = [i for i, g in enumerate(gold) if g == L.no_relation_id][:5]
    for i in nr_rows[:3]:
        pred[i] = L.id("per:title")
    for i in nr_rows[3:]:
        pred[i] = L.id("org:members")
    pred[-1] = L.id("per:origin")  # the nasty row: per:employee_of -> per:origin
    return pred


@pytest.fixture
def setup(tmp_path: Path):
    root = tmp_path / "art"
    data, train, valid = make_split(root)
    pred = mistakes(valid)
    run = make_run(root, data, valid, pred)
    return root, run, valid, pred


def test_cli_errors_report(kre, setup):
    root, run, valid, pred = setup
    res = kre("errors", run, "--root", root, ok=True)
    folder = ArtifactStore(root).list("errors")[0]
    assert folder.name == "0001-0001-r"
    report = json.loads((folder / "errors.json").read_text())
    gold = np.asarray(L.ids([e.label for e in valid]))
    p = np.asarray(pred)
    assert report["n"] == len(valid) and report["errors"] == int((gold != p).sum()) == 6
    assert report["micro_f1"] == pytest.approx(micro_f1(gold, p, L))
    counts = [(c["gold"], c["pred"], c["count"]) for c in report["confusions"]]
    assert counts == [("no_relation", "per:title", 3), ("no_relation", "org:members", 2), ("per:employee_of", "per:origin", 1)]
    assert report["confusions"][2]["ids"] == ["999"]
    # F1 cost of a confusion: the micro F1 gained by fixing exactly its rows
    fixed = p.copy()
    fixed[(gold == L.no_relation_id) & (p == L.id("per:title"))] = L.no_relation_id
    assert report["confusions"][0]["f1_cost"] == pytest.approx(micro_f1(gold, fixed, L) - micro_f1(gold, p, L))
    assert report["confusions"][0]["f1_cost"] > 0
    rel = "per:employee_of"
    assert report["per_class"][rel]["support"] == int((gold == L.id(rel)).sum())
    assert {g["group"] for g in report["by_source"]} <= {"wikipedia", "wikitree", "policy_briefing"}
    assert sum(g["n"] for g in report["by_type_pair"]) == len(valid) and any(g["group"] == "PER-ORG" for g in report["by_type_pair"])
    page = (folder / "report.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert '<mark class="subj" title="subject PER">김구</mark>' in page and '<mark class="obj" title="object ORG">한국은행</mark>' in page
    assert "<link" not in page and "src=" not in page and "<style>" in page  # self-contained
    assert page.index("Costliest confusions") < page.index("Per class") < page.index("By source") < page.index("By entity-type pair")
    md = (folder / "report.md").read_text()
    assert "**「김구」**" in md and "**『한국은행』**" in md and r"\<script\>" in md and r"\|" in md
    art = load_artifact(folder)
    assert art.kind == "errors" and art.params["source"] == "runs/0001-r" and art.params["data"] == "splits/0001-s"
    assert {i["role"] for i in art.inputs} == {"source", "predictions", "data"}
    assert "costliest" in res.stdout and "F1 cost" in res.stdout


def test_filters(setup):
    root, run, valid, pred = setup
    only = run_errors(source=run, root=root, labels=["per:origin"], max_examples=0)
    rep = json.loads(only.file("errors.json").read_text())
    assert [(c["gold"], c["pred"]) for c in rep["confusions"]] == [("per:employee_of", "per:origin")]
    assert rep["total_confusions"] == 3 and rep["errors"] == 6  # the totals stay unfiltered
    assert "김구" not in only.file("report.html").read_text().split("Mistakes by")[1]  # max_examples 0
    frequent = json.loads(run_errors(source=run, root=root, min_count=3).file("errors.json").read_text())
    assert [c["count"] for c in frequent["confusions"]] == [3]
    with pytest.raises(KreError, match="--label 'per:nope' is not in the label set"):
        run_errors(source=run, root=root, labels=["per:nope"])


def test_ensemble_and_out_of_fold_runs_find_their_sentences(kre, tmp_path):
    root = tmp_path / "art"
    data, train, valid = make_split(root)
    rows = train + valid  # a k-fold run's out-of-fold rows come from train.csv and valid.csv
    gold = L.ids([e.label for e in rows])
    a = make_run(root, data, rows, gold, name="a", params={"folds": 5})
    b = make_run(root, data, rows, [L.no_relation_id] * len(rows), name="b", params={"folds": 5})
    kre("ensemble", a, b, "--root", root, ok=True)
    kre("errors", "ensembles/latest", "--root", root, ok=True)
    rep = json.loads((ArtifactStore(root).list("errors")[0] / "errors.json").read_text())
    assert rep["n"] == len(rows)
    preds = load_predictions("ensembles/latest", root=root)
    assert preds.data_ref == "splits/0001-s" and [e.id for e in preds.examples] == [e.id for e in rows]


def test_labeled_prediction(kre, tmp_path):
    root = tmp_path / "art"
    rows = synth_examples(30, seed=8)
    path = write_examples(tmp_path / "labeled.csv", rows)
    store = ArtifactStore(root)
    with store.create("predictions", "p", params={"run": "runs/0001-x"}) as b:
        b.add_input_file(path, "data")
        write_probs(b.path / "probs.csv", [e.id for e in rows], probs_for([0] * 30, [0] * 30), L)
    kre("errors", "predictions/latest", "--root", root, ok=True)
    rep = json.loads((store.list("errors")[0] / "errors.json").read_text())
    assert rep["n"] == 30 and rep["errors"] == sum(e.label != "no_relation" for e in rows)
    path.write_text(path.read_text().replace("이", "리", 1))
    res = kre("errors", "predictions/latest", "--root", root, ok=False)
    assert "changed since predictions/0001-p" in res.output


def _refused(kre, root: Path, *args: str | Path) -> str:
    res = kre("errors", *args, "--root", root, ok=False)
    assert res.exit_code == 1
    assert not (root / "errors").exists() or ArtifactStore(root).list("errors") == []
    return " ".join(res.output.split())


def test_refusals(kre, setup, tmp_path):
    root, run, valid, pred = setup
    store = ArtifactStore(root)
    with store.create("runs", "novalid", params={}) as b:
        write_probs(b.path / "probs.csv", ["t1"], probs_for([0], [0]), L)
    assert "has no valid_probs.csv" in _refused(kre, root, b.published.path)  # type: ignore[union-attr]
    with store.create("runs", "nodata", params={}) as b:
        write_probs(b.path / "valid_probs.csv", ["1"], probs_for([0], [0]), L, gold=["no_relation"])
    msg = _refused(kre, root, "runs/latest")
    assert "cannot find the splits/ or augments/ artifact" in msg and "--data" in msg
    other = write_examples(tmp_path / "other.csv", synth_examples(4, seed=2))
    msg = _refused(kre, root, run, "--data", other)
    assert "valid_probs.csv: row 1, field 'id': id" in msg and "is not in" in msg
    assert "no such artifact" in _refused(kre, root, "runs/0099")
    assert "is a 'splits' artifact" in _refused(kre, root, "splits/latest")
