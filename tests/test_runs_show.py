"""`kre runs` (table, JSON, sort, filters, diff) and `kre show` (manifest summary, lineage with hash checks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kre.artifacts import Artifact, ArtifactStore
from kre.data.probs import write_probs
from kre.ensemble import run_ensemble
from kre.labels import DEFAULT_LABELS
from kre.lineage import lineage

RUNS: list[tuple[str, dict[str, Any], dict[str, float], float]] = [
    ("base", {"model": "klue/roberta-base", "marker": "typed_punct", "head": "cls", "loss": "ce", "lr": 5e-5,
              "batch_size": 32, "epochs": 3, "seed": 0, "folds": 0}, {"micro_f1": 60.0, "auprc": 55.0}, 100.0),
    ("large", {"model": "klue/roberta-large", "marker": "typed_punct", "head": "entity", "loss": "focal", "lr": 2e-5,
               "batch_size": 64, "epochs": 5, "seed": 1, "folds": 5}, {"micro_f1": 72.5, "auprc": 70.0}, 4000.0),
    ("small", {"model": "e5-small-ko", "marker": "plain", "head": "entity", "loss": "ce", "lr": 3e-5,
               "batch_size": 32, "epochs": 3, "seed": 0, "folds": 0}, {"micro_f1": 65.0, "auprc": 75.0}, 30.0),
]


def build_lineage(root: Path, raw: Path) -> dict[str, Artifact]:
    """raw train.csv -> split -> augment -> runs (one also from tapt) -> ensemble, as the phases would write them."""
    store = ArtifactStore(root)
    out: dict[str, Artifact] = {}
    with store.create("splits", "s", params={"seed": 0, "valid_size": 0.1, "folds": 0, "dedupe": True}, seed=0) as b:
        b.add_input_file(raw, "data")
        shutil.copy(raw, b.path / "train.csv")
        (b.path / "valid.csv").write_text("id\n", encoding="utf-8")
    out["split"] = b.published
    with store.create("augments", "bt", params={"methods": ["bt"], "min_similarity": 0.9}, seed=0) as b:
        b.add_input_artifact(out["split"], "split")
        shutil.copy(raw, b.path / "train.csv")
    out["augment"] = b.published
    with store.create("tapt", "mlm", params={"model": "klue/roberta-base", "epochs": 1}, seed=0) as b:
        b.add_input_artifact(out["split"], "data")
        b.add_input_ref("klue/roberta-base", "model")
        (b.path / "model.safetensors").write_bytes(b"weights")
    out["tapt"] = b.published
    rng = np.random.default_rng(0)
    ids = [str(i) for i in range(8)]
    gold = [DEFAULT_LABELS.name(int(g)) for g in rng.integers(0, 30, 8)]
    for name, params, metrics, duration in RUNS:
        with store.create("runs", name, params=params, seed=params["seed"]) as b:
            b.add_input_artifact(out["augment"] if name != "small" else out["split"], "data")
            if name == "large":
                b.add_input_artifact(out["tapt"], "model")
            else:
                b.add_input_ref(params["model"], "model")
            write_probs(b.path / "probs.csv", ids, rng.dirichlet(np.ones(30), 8), DEFAULT_LABELS)
            write_probs(b.path / "valid_probs.csv", ids, rng.dirichlet(np.ones(30), 8), DEFAULT_LABELS, gold=gold)
            b.metrics.update(metrics)
            b.info["duration_s"] = duration
            b.info["device"] = "cpu"
        out[name] = b.published
    return out


@pytest.fixture
def art(tmp_path: Path) -> tuple[Path, Path, dict[str, Artifact]]:
    root = tmp_path / "art"
    raw = tmp_path / "raw" / "train.csv"
    raw.parent.mkdir()
    raw.write_text("id,sentence\n0,안녕하세요\n", encoding="utf-8")
    return root, raw, build_lineage(root, raw)


def ids_of(stdout: str) -> list[str]:
    return [r["id"].split("-", 1)[1] for r in json.loads(stdout)]


# -- kre runs ---------------------------------------------------------------------------------
def test_runs_table(kre, art):
    root, _, _ = art
    res = kre("runs", "--root", root, "--columns", "all", ok=True)
    out = res.stdout
    for header in ("id", "model", "template", "head", "loss", "lr", "batch", "epochs", "seed", "folds", "valid F1", "AUPRC", "duration"):
        assert header in out
    for text in ("0001-base", "0002-large", "0003-small", "klue/roberta-large", "typed_punct", "focal", "2e-05", "72.50", "1h06m", "30s"):
        assert text in out, text
    assert out.index("0001-base") < out.index("0002-large") < out.index("0003-small")


def test_runs_json_is_machine_readable(kre, art):
    root, _, _ = art
    res = kre("runs", "--root", root, "--json", ok=True)
    rows = json.loads(res.stdout)  # nothing but JSON on stdout
    assert [r["id"] for r in rows] == ["runs/0001-base", "runs/0002-large", "runs/0003-small"]
    large = rows[1]
    assert large["micro_f1"] == 72.5 and large["auprc"] == 70.0 and large["duration_s"] == 4000.0
    assert large["marker"] == "typed_punct" and large["batch_size"] == 64 and large["params"]["loss"] == "focal"
    assert Path(large["path"]).name == "0002-large"
    empty = kre("runs", "--root", root.parent / "nothing", "--json", ok=True)
    assert json.loads(empty.stdout) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--sort", "f1"], ["large", "small", "base"]),
        (["--sort", "auprc"], ["small", "large", "base"]),
        (["--sort", "lr"], ["large", "small", "base"]),
        (["--sort", "lr", "--reverse"], ["base", "small", "large"]),
        (["--sort", "duration"], ["small", "base", "large"]),
        (["--sort", "created"], ["small", "large", "base"]),
        (["--filter", "head=entity"], ["large", "small"]),
        (["--filter", "head=entity", "--filter", "loss=ce"], ["small"]),
        (["--filter", "batch=64"], ["large"]),
        (["--filter", "lr=2e-5"], ["large"]),
        (["--model", "ROBERTA"], ["base", "large"]),
        (["--where", "lr<=3e-5"], ["large", "small"]),
        (["--where", "f1>70"], ["large"]),
        (["--where", "folds!=0", "--where", "epochs>=5"], ["large"]),
        (["--where", "template=plain", "--sort", "f1"], ["small"]),
        (["--filter", "head=lstm"], []),
    ],
)
def test_runs_sort_and_filter(kre, art, args, expected):
    root, _, _ = art
    res = kre("runs", "--root", root, "--json", *args, ok=True)
    assert ids_of(res.stdout) == expected


def test_runs_bad_filters(kre, art):
    root, _, _ = art
    res = kre("runs", "--root", root, "--filter", "head", ok=False)
    assert res.exit_code == 1 and "expected KEY=VALUE" in res.output
    res = kre("runs", "--root", root, "--filter", "lr<3", ok=False)
    assert res.exit_code == 1 and "use --where" in res.output
    res = kre("runs", "--root", root, "--sort", "nonsense", ok=False)
    assert res.exit_code == 1 and "no run has this field" in res.output


def test_runs_diff(kre, art):
    root, _, _ = art
    res = kre("runs", "--root", root, "--diff", "1", "runs/0002-large", "--json", ok=True)
    data = json.loads(res.stdout)
    assert data["a"] == "runs/0001-base" and data["b"] == "runs/0002-large"
    diffs = {(d["section"], d["key"]): (d["a"], d["b"]) for d in data["differences"]}
    assert diffs[("param", "head")] == ("cls", "entity")
    assert diffs[("param", "lr")] == (5e-5, 2e-5)
    assert diffs[("metric", "micro_f1")] == (60.0, 72.5)
    assert diffs[("info", "duration_s")] == (100.0, 4000.0)
    assert diffs[("input", "model")] == ("klue/roberta-base", "tapt/0001-mlm")
    assert ("param", "marker") not in diffs and ("info", "device") not in diffs  # equal values are not shown
    table = kre("runs", "--root", root, "--diff", "1", "2", ok=True).stdout
    assert "runs/0001-base" in table and "focal" in table and "micro_f1" in table
    same = kre("runs", "--root", root, "--diff", "1", "1", ok=True).stdout
    assert "same parameters" in same


# -- kre show -----------------------------------------------------------------------------------
def _nodes(tree: dict[str, Any]) -> list[dict[str, Any]]:
    out = [tree]
    for child in tree["inputs"]:
        out.extend(_nodes(child))
    return out


def _status(tree: dict[str, Any], label: str) -> str:
    found = {n["status"] for n in _nodes(tree) if n["label"] == label}
    assert len(found) == 1, (label, found)
    return found.pop()


def test_show_lineage_ok(kre, art):
    root, raw, _ = art
    ens = run_ensemble(members=[root / "runs" / "0001-base", root / "runs" / "0002-large"], root=root, name="top2")
    res = kre("show", "ensembles/latest", "--root", root, "--json", ok=True)
    data = json.loads(res.stdout)
    assert data["artifact"]["id"] == ens.id and data["artifact"]["kind"] == "ensembles"
    assert data["artifact"]["params"]["method"] == "soft"
    assert {o["file"] for o in data["artifact"]["outputs"]} >= {"probs.csv", "weights.json", "valid_probs.csv", "metrics.json"}
    tree = data["lineage"]
    assert data["all_ok"] is True
    labels = [n["label"] for n in _nodes(tree)]
    # ensemble -> run -> augment -> split -> raw train.csv ; run -> tapt -> split (shown once)
    for expected in ("runs/0001-base", "runs/0002-large", "augments/0001-bt", "splits/0001-s", "tapt/0001-mlm", str(raw)):
        assert expected in labels, expected
    base = next(c for c in tree["inputs"] if c["label"] == "runs/0001-base")
    aug = next(c for c in base["inputs"] if c["label"] == "augments/0001-bt")
    split = aug["inputs"][0]
    assert split["label"] == "splits/0001-s" and split["inputs"][0]["label"] == str(raw) and split["inputs"][0]["type"] == "file"
    large = next(c for c in tree["inputs"] if c["label"] == "runs/0002-large")
    again = next(c for c in large["inputs"] if c["label"] == "augments/0001-bt")
    assert again["repeated"] is True and again["inputs"] == []  # shown once, under the first run
    tapt = next(c for c in large["inputs"] if c["label"] == "tapt/0001-mlm")
    assert tapt["inputs"][0]["label"] == "splits/0001-s" and tapt["inputs"][0]["repeated"] is True
    assert {n["status"] for n in _nodes(tree)} == {"ok", "unchecked"}
    assert _status(tree, "klue/roberta-base") == "unchecked"

    text = kre("show", ens.path, "--root", root, ok=True).stdout
    for expected in ("ensembles/0001-top2", "command", "Parameters", "method", "Outputs", "Lineage", "splits/0001-s", "train.csv"):
        assert expected in text, expected
    assert "changed" not in text and "checked hashes ok" in text


def test_show_marks_changed_and_missing(kre, art):
    root, raw, built = art
    raw.write_text("id,sentence\n0,바뀐 문장\n", encoding="utf-8")  # the raw data changed after the split
    with open(built["augment"].path / "train.csv", "a", encoding="utf-8") as fh:
        fh.write("1,x\n")  # someone edited an artifact
    res = kre("show", "runs/0002", "--root", root, "--json", ok=True)
    data = json.loads(res.stdout)
    tree = data["lineage"]
    assert data["all_ok"] is False
    assert _status(tree, "runs/0002-large") == "ok"
    assert _status(tree, "augments/0001-bt") == "changed"
    assert _status(tree, "splits/0001-s") == "ok"
    assert _status(tree, str(raw)) == "changed"
    aug = next(n for n in _nodes(tree) if n["label"] == "augments/0001-bt")
    assert "train.csv" in aug["detail"]

    shutil.rmtree(built["tapt"].path)
    (built["large"].path / "probs.csv").write_text("changed\n", encoding="utf-8")
    res = kre("show", "runs/0002", "--root", root, ok=True)
    text = res.stdout
    assert "missing" in text and "tapt/0001-mlm" in text
    assert "changed" in text and "augments/0001-bt" in text
    data = json.loads(kre("show", "runs/0002", "--root", root, "--json", ok=True).stdout)
    assert _status(data["lineage"], "tapt/0001-mlm") == "missing"
    assert _status(data["lineage"], "runs/0002-large") == "changed"
    assert {o["file"]: o["status"] for o in data["artifact"]["outputs"]}["probs.csv"] == "changed"
    unchecked = json.loads(kre("show", "runs/0002", "--root", root, "--json", "--no-check", ok=True).stdout)
    assert {n["status"] for n in _nodes(unchecked["lineage"])} <= {"unchecked", "missing"}


def test_show_unknown_artifact(kre, art):
    root, _, _ = art
    res = kre("show", "runs/0099", "--root", root, ok=False)
    assert res.exit_code == 1 and "no such artifact" in res.output


def test_lineage_library_api(art):
    root, raw, built = art
    node = lineage(built["small"], root)
    assert node.all_ok
    assert [c.label for c in node.children] == ["splits/0001-s", "e5-small-ko"]
    assert node.children[0].children[0].label == str(raw)
