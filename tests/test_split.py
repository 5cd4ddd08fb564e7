"""`kre split`: group-aware stratified splits, folds, dedupe, determinism, bad input, CLI and manifest."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import synth_examples, write_examples
from kre.data import Example
from kre.split import assign_groups, build_groups, find_duplicates, make_split

COMMON = ["no_relation", "per:title", "org:members", "per:employee_of", "org:top_members/employees"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dataset() -> list[Example]:
    """~360 rows: 150 two-pair sentences and 60 one-pair sentences with common and rare labels.

    Rare labels: per:religion on exactly 2 sentences, org:dissolved on 3, per:siblings on 1.
    """
    pairs = synth_examples(300, seed=5, pairs_per_sentence=2)
    singles = [replace(e, id=f"s{e.id}", sentence=e.sentence + " 끝") for e in synth_examples(60, seed=6, pairs_per_sentence=1)]
    rare = {10: "per:religion", 77: "per:religion", 20: "org:dissolved", 95: "org:dissolved", 140: "org:dissolved", 33: "per:siblings"}
    out = []
    for i, e in enumerate(pairs):
        sent = i // 2
        label = rare[sent] if sent in rare and i % 2 == 0 else COMMON[(i * 3 + sent) % len(COMMON)]
        out.append(replace(e, label=label))
    out += [replace(e, label=COMMON[i % 3]) for i, e in enumerate(singles)]
    return out


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    return write_examples(tmp_path / "data.csv", _dataset())


def _sentences(rows: list[dict[str, str]]) -> set[str]:
    return {r["sentence"] for r in rows}


def test_group_aware_and_stratified(data_csv: Path, tmp_path: Path) -> None:
    art = make_split(path=data_csv, root=tmp_path / "r", valid_size=0.2, seed=3)
    train, valid = _rows(art.file("train.csv")), _rows(art.file("valid.csv"))
    source = _rows(data_csv)
    assert len(train) + len(valid) == len(source)
    assert not _sentences(train) & _sentences(valid)
    # every class with >= 2 sentences is in valid (and in train); the 1-sentence class is in train
    groups = defaultdict(set)
    for r in source:
        groups[r["label"]].add(r["sentence"])
    valid_labels, train_labels = {r["label"] for r in valid}, {r["label"] for r in train}
    for label, sents in groups.items():
        if len(sents) >= 2:
            assert label in valid_labels and label in train_labels, label
    assert "per:siblings" in train_labels and "per:siblings" not in valid_labels
    report = json.loads(art.file("report.json").read_text(encoding="utf-8"))
    assert [m["label"] for m in report["coverage"]["missing_in_valid"]] == ["per:siblings"]
    assert report["leak_check"]["leaked_sentences"] == 0
    # valid size close to the target (within a couple of two-row groups)
    assert abs(len(valid) - 0.2 * len(source)) <= 4
    # common classes are stratified: valid share within a few rows of 20%
    for label in COMMON:
        n_total = sum(r["label"] == label for r in source)
        assert abs(report["class_counts"]["valid"][label] - 0.2 * n_total) <= 3, label
    # original row order kept on each side
    order = {r["id"]: i for i, r in enumerate(source)}
    for side in (train, valid):
        positions = [order[r["id"]] for r in side]
        assert positions == sorted(positions)


def test_assign_groups_unit() -> None:
    sentences = [f"s{i}" for i in range(40)] + ["r1", "r2", "q1"]
    labels = ["a" if i % 4 else "b" for i in range(40)] + ["rare", "rare", "single"]
    groups = build_groups(sentences, labels)
    bins = assign_groups(groups, (0.75, 0.25), seed=0)
    by_label = defaultdict(set)
    for g, b in zip(groups, bins):
        by_label[g.labels[0]].add(b)
    assert by_label["rare"] == {0, 1}  # two groups: one per side
    assert by_label["single"] == {0}  # one group: the bigger side
    assert sum(b == 1 for b in bins) in (10, 11, 12)
    # the grouping key ignores whitespace differences
    assert len(build_groups(["가 나", " 가  나 ", "다"], ["x", "x", "y"])) == 2


def test_assign_groups_coverage_beats_quota() -> None:
    """A 2-sentence class reaches both sides even when its second sentence's other labels pull it away."""
    sentences = ["s", "s", "s", "s", "r1", "r2", "r2", "r2", "r2", "r2", "r2", "r2"] + [f"c{i}" for i in range(11)]
    labels = ["s", "c", "c", "c", "r", "r"] + ["c"] * 6 + ["c"] * 11
    groups = build_groups(sentences, labels)
    for seed in range(8):
        bins = assign_groups(groups, (0.5, 0.5), seed=seed)
        assert {b for g, b in zip(groups, bins) if "r" in g.labels} == {0, 1}, seed


def test_folds(data_csv: Path, tmp_path: Path) -> None:
    art = make_split(path=data_csv, root=tmp_path / "r", folds=4, seed=1)
    folds = {r["id"]: int(r["fold"]) for r in _rows(art.file("folds.csv"))}
    rows = _rows(art.file("train.csv")) + _rows(art.file("valid.csv"))
    assert set(folds) == {r["id"] for r in rows} and len(folds) == len(rows)
    assert set(folds.values()) == {0, 1, 2, 3}
    fold_of_sentence: dict[str, int] = {}
    for r in rows:
        assert fold_of_sentence.setdefault(r["sentence"], folds[r["id"]]) == folds[r["id"]]
    sizes = Counter(folds.values())
    assert max(sizes.values()) - min(sizes.values()) <= 3
    groups = defaultdict(set)
    for r in rows:
        groups[r["label"]].add(r["sentence"])
    per_fold = Counter((folds[r["id"]], r["label"]) for r in rows)
    for label, sents in groups.items():
        if len(sents) >= 4:
            assert all(per_fold[k, label] > 0 for k in range(4)), label
    report = json.loads(art.file("report.json").read_text(encoding="utf-8"))
    assert report["folds"]["sizes"] == [sizes[k] for k in range(4)]
    assert report["leak_check"]["folds_leaked_sentences"] == 0
    assert art.params["folds"] == 4


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def test_deterministic_and_seed_sensitive(data_csv: Path, tmp_path: Path) -> None:
    a = make_split(path=data_csv, root=tmp_path / "r", folds=3, dedupe=True, seed=7)
    b = make_split(path=data_csv, root=tmp_path / "r", folds=3, dedupe=True, seed=7)
    assert a.path != b.path
    fa, fb = _files(a.path), _files(b.path)
    assert set(fa) == {"train.csv", "valid.csv", "folds.csv", "report.json", "class_counts.png"}
    assert fa == fb
    c = make_split(path=data_csv, root=tmp_path / "r", folds=3, dedupe=True, seed=8)
    fc = _files(c.path)
    assert fc["valid.csv"] != fa["valid.csv"] and fc["folds.csv"] != fa["folds.csv"]


def test_deterministic_across_processes(data_csv: Path, tmp_path: Path, kre) -> None:
    """Another interpreter with another hash seed writes the same bytes."""
    kre("split", data_csv, "--root", tmp_path / "a", "--folds", "3", "--dedupe", ok=True)
    env = dict(os.environ, PYTHONHASHSEED="12345")
    proc = subprocess.run(
        [sys.executable, "-m", "kre", "-q", "split", str(data_csv), "--root", str(tmp_path / "b"), "--folds", "3", "--dedupe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    (a,) = (tmp_path / "a" / "splits").glob("0001-*")
    (b,) = (tmp_path / "b" / "splits").glob("0001-*")
    assert _files(a) == _files(b)


def _dup_data() -> list[Example]:
    base = synth_examples(40, seed=2, pairs_per_sentence=2)
    rows = list(base)
    rows.append(replace(base[0], id="dup-of-0"))  # exact duplicate of row 0
    rows.append(replace(base[0], id="dup2-of-0"))  # and another one
    other = "per:title" if base[2].label != "per:title" else "org:members"
    rows.append(replace(base[2], id="conflict-of-2", label=other))  # same input, other label
    rows.append(replace(base[3], id="not-dup", object=base[3].subject, subject=base[3].object))  # swapped pair: not a dup
    return rows


def test_find_duplicates_policies() -> None:
    rows = _dup_data()
    keep_first = find_duplicates(rows, drop=True, conflicts="keep-first")
    dropped = {d["id"]: d for d in keep_first.dropped}
    assert set(dropped) == {"dup-of-0", "dup2-of-0", "conflict-of-2"}
    assert dropped["dup-of-0"]["reason"] == "exact_duplicate" and dropped["dup-of-0"]["kept"] == "0"
    assert dropped["conflict-of-2"]["reason"] == "conflicting_label" and dropped["conflict-of-2"]["kept"] == "2"
    assert keep_first.exact_duplicate_rows == 2
    assert [c["ids"] for c in keep_first.conflicts] == [["2", "conflict-of-2"]]
    drop_all = find_duplicates(rows, drop=True, conflicts="drop-all")
    assert {d["id"] for d in drop_all.dropped} == {"dup-of-0", "dup2-of-0", "2", "conflict-of-2"}
    assert all(d["kept"] is None for d in drop_all.dropped if d["id"] in ("2", "conflict-of-2"))
    report_only = find_duplicates(rows, drop=False)
    assert report_only.dropped == [] and len(report_only.keep) == len(rows) and len(report_only.conflicts) == 1


@pytest.mark.parametrize("policy", ["keep-first", "drop-all"])
def test_split_dedupe(tmp_path: Path, kre, policy: str) -> None:
    path = write_examples(tmp_path / "dups.csv", _dup_data())
    kre("split", path, "--root", tmp_path, "--dedupe", "--conflicts", policy, "--valid-size", "0.25", ok=True)
    (folder,) = (tmp_path / "splits").glob("0001-*")
    ids = {r["id"] for r in _rows(folder / "train.csv") + _rows(folder / "valid.csv")}
    assert not ids & {"dup-of-0", "dup2-of-0", "conflict-of-2"}
    assert "not-dup" in ids and "0" in ids
    assert ("2" in ids) == (policy == "keep-first")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert report["dedupe"]["dropped_by_reason"] == (
        {"conflicting_label": 1, "exact_duplicate": 2} if policy == "keep-first" else {"conflicting_label": 2, "exact_duplicate": 2}
    )
    assert len(report["dedupe"]["conflicts"]) == 1
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["params"]["conflicts"] == policy and manifest["params"]["dedupe"] is True
    assert manifest["metrics"]["dropped"] == (3 if policy == "keep-first" else 4)
    assert manifest["metrics"]["conflicts"] == 1


def test_no_dedupe_keeps_rows_but_reports(tmp_path: Path) -> None:
    path = write_examples(tmp_path / "dups.csv", _dup_data())
    art = make_split(path=path, root=tmp_path, valid_size=0.25)
    rows = _rows(art.file("train.csv")) + _rows(art.file("valid.csv"))
    assert len(rows) == len(_dup_data())
    assert art.metrics["dropped"] == 0 and art.metrics["conflicts"] == 1 and art.metrics["exact_duplicates"] == 2
    # duplicates share a sentence, so they share a side
    side = {r["id"]: "t" for r in _rows(art.file("train.csv"))} | {r["id"]: "v" for r in _rows(art.file("valid.csv"))}
    assert side["0"] == side["dup-of-0"] == side["dup2-of-0"]


def test_cli_and_manifest(data_csv: Path, tmp_path: Path, kre) -> None:
    result = kre("split", data_csv, "--root", tmp_path, "--seed", "5", "--valid-size", "0.15", "--folds", "3", "--name", "mine", ok=True)
    assert "sentences on both sides" in result.stdout and "Rows per class" in result.stdout
    folder = tmp_path / "splits" / "0001-mine"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "splits" and manifest["id"] == "splits/0001-mine"
    assert manifest["params"] == {
        "seed": 5, "valid_size": 0.15, "folds": 3, "dedupe": False, "conflicts": "keep-first", "labels": None
    }
    metrics = manifest["metrics"]
    train, valid = _rows(folder / "train.csv"), _rows(folder / "valid.csv")
    assert metrics["train_rows"] == len(train) and metrics["valid_rows"] == len(valid)
    assert metrics["leaked_sentences"] == 0 and metrics["dropped"] == 0
    assert set(manifest["outputs"]) == {"train.csv", "valid.csv", "folds.csv", "report.json", "class_counts.png"}
    assert manifest["inputs"][0]["role"] == "data" and len(manifest["inputs"][0]["sha256"]) == 64
    assert "split" in manifest["command"]
    assert (folder / "class_counts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run makes a new version; splits/latest resolves to it
    kre("split", data_csv, "--root", tmp_path, ok=True)
    from kre.artifacts import ArtifactStore

    assert ArtifactStore(tmp_path).resolve("splits/latest").id.startswith("splits/0002-")


def test_custom_labels(tmp_path: Path, kre) -> None:
    rows = [replace(e, label=["a", "b"][i % 2]) for i, e in enumerate(synth_examples(40, seed=4, pairs_per_sentence=1))]
    path = write_examples(tmp_path / "custom.csv", rows)
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"a": 0, "b": 1}), encoding="utf-8")
    kre("split", path, "--root", tmp_path, ok=False)  # unknown labels without the map
    kre("split", path, "--root", tmp_path, "--labels", labels, ok=True)
    (folder,) = (tmp_path / "splits").glob("0001-*")
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert list(report["class_counts"]["valid"]) == ["a", "b"]
    assert all(n > 0 for n in report["class_counts"]["valid"].values())


def _bad_cases(good: list[str]) -> dict[str, tuple[str, str]]:
    header, first, rest = good[0], good[1], good[2:]
    cells = next(csv.reader([first]))
    cases = {}

    def row(**changes: str) -> str:
        values = dict(zip(["id", "sentence", "subject_entity", "object_entity", "label", "source"], cells))
        values.update(changes)
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(values.values())
        return buf.getvalue()

    cases["unknown_label"] = ("\n".join([header, *rest[:5], row(label="per:nonsense")]), "field 'label'")
    cases["unlabeled_row"] = ("\n".join([header, *rest[:5], row(label="100")]), "field 'label'")
    bad_subject = cells[2].replace("'start_idx': ", "'start_idx': 1")
    cases["bad_offsets"] = ("\n".join([header, *rest[:5], row(subject_entity=bad_subject)]), "field 'subject_entity'")
    cases["missing_column"] = ("\n".join([",".join(header.split(",")[:-2])]), "missing column")
    cases["empty"] = ("", "empty")
    return cases


def test_bad_input_exit_1_and_no_artifact(train_csv: Path, tmp_path: Path, kre) -> None:
    good = train_csv.read_text(encoding="utf-8").splitlines()
    for name, (text, where) in _bad_cases(good).items():
        bad = tmp_path / f"{name}.csv"
        bad.write_text(text + "\n", encoding="utf-8")
        root = tmp_path / f"root_{name}"
        result = kre("split", bad, "--root", root, ok=False)
        assert result.exit_code == 1, name
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, (name, result.stderr)
        err = errors[0]
        assert str(bad) in err and where in err, (name, err)
        if name in ("unknown_label", "unlabeled_row", "bad_offsets"):
            assert "row 6" in err, err
        assert not (root / "splits").exists() or not any((root / "splits").iterdir()), name
    # a missing file and bad option values: exit 1, nothing written
    for args in (
        [tmp_path / "nope.csv"],
        [train_csv, "--valid-size", "1.5"],
        [train_csv, "--valid-size", "0"],
        [train_csv, "--folds", "1"],
        [train_csv, "--folds", "1000"],
    ):
        result = kre("split", *args, "--root", tmp_path / "root_opts", ok=False)
        assert result.exit_code == 1 and "Error:" in result.stderr, args
    assert not (tmp_path / "root_opts" / "splits").exists() or not any((tmp_path / "root_opts" / "splits").iterdir())
    assert kre("split", train_csv, "--conflicts", "whatever", "--root", tmp_path / "root_opts").exit_code == 2


def test_config_file_fills_options(data_csv: Path, tmp_path: Path, kre) -> None:
    config = tmp_path / "split.json"
    config.write_text(json.dumps({"valid-size": 0.3, "seed": 9, "folds": 2}), encoding="utf-8")
    kre("split", data_csv, "--root", tmp_path, "--config", config, "--seed", "4", ok=True)
    (folder,) = (tmp_path / "splits").glob("0001-*")
    params = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["params"]
    assert (params["valid_size"], params["seed"], params["folds"]) == (0.3, 4, 2)
