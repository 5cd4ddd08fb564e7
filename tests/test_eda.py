"""`kre eda`: statistics on hand-made data, invalid rows reported, unreadable files refused, artifact contents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import load_artifact
from kre.data import Entity, Example
from kre.eda import analyze, run_eda
from kre.eda.stats import ks_statistic, summarize, total_variation

S1 = "이순신은 1545년에 한양에서 태어났다."
S2 = "삼성전자는 서울에 본사를 둔다."
S3 = "세종은 조선의 왕이었다."
S4 = "김구는 1949년에 서거했다."
S5 = "카카오는 판교에 있다."

PLOTS = {"labels.png", "sources.png", "type_pairs.png", "lengths_chars.png", "entity_positions.png",
         "duplicates.png", "problems.png", "shift.png"}


def ent(sentence: str, word: str, etype: str) -> Entity:
    start = sentence.index(word)
    return Entity(word, start, start + len(word) - 1, etype)


def ex(i: int, sentence: str, subj: tuple[str, str], obj: tuple[str, str], label: str | None, source: str = "wikipedia") -> Example:
    return Example(str(i), sentence, ent(sentence, *subj), ent(sentence, *obj), label, source)


def hand_train() -> list[Example]:
    return [
        ex(0, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth"),
        ex(1, S1, ("이순신", "PER"), ("1545년", "DAT"), "per:date_of_birth"),  # exact duplicate of 0
        ex(2, S1, ("이순신", "PER"), ("한양", "LOC"), "per:place_of_birth", "wikitree"),  # S1: 2 distinct pairs
        ex(3, S2, ("삼성전자", "ORG"), ("서울", "LOC"), "org:place_of_headquarters"),
        ex(4, S2, ("삼성전자", "ORG"), ("서울", "LOC"), "no_relation", "wikitree"),  # conflicts with 3
        ex(5, S3, ("세종", "PER"), ("조선", "ORG"), "per:employee_of"),
    ]


def hand_test() -> list[Example]:
    return [
        ex(0, S3, ("세종", "PER"), ("조선", "ORG"), None, "wikitree"),  # same input as train row 5
        ex(1, S4, ("김구", "PER"), ("1949년", "DAT"), None, "wikitree"),
        ex(2, S5, ("카카오", "ORG"), ("판교", "LOC"), None, "policy_briefing"),
    ]


@pytest.fixture
def hand_files(tmp_path: Path) -> tuple[Path, Path]:
    return write_examples(tmp_path / "train.csv", hand_train()), write_examples(tmp_path / "test.csv", hand_test())


def artifacts(root: Path) -> list[Path]:
    folder = root / "eda"
    return sorted(p for p in folder.iterdir() if p.name[:1].isdigit()) if folder.is_dir() else []


def test_stats_on_hand_made_data(hand_files: tuple[Path, Path]) -> None:
    train, test = hand_files
    data = analyze([train, test]).data
    tr, te = data["files"]
    assert (tr["rows"], tr["labeled_rows"], tr["labeled"], te["unlabeled_rows"], te["labeled"]) == (6, 6, True, 3, False)
    assert tr["duplicates"]["rows"] == 1 and tr["duplicates"]["groups"] == 1
    assert tr["duplicates"]["examples"][0]["ids"] == ["0", "1"]
    assert tr["conflicts"]["groups"] == 1 and tr["conflicts"]["rows"] == 2
    assert sorted(tr["conflicts"]["examples"][0]["labels"]) == ["no_relation", "org:place_of_headquarters"]
    # S1 has two distinct pairs (3 rows); S2 has one pair twice; S3 one pair.
    assert tr["unique_sentences"] == 3
    assert tr["multi_pair"] == {"sentences": 1, "rows": 3, "group_sizes": {"1": 2, "2": 1}, "max_pairs": 2}
    assert tr["label_counts"]["per:date_of_birth"] == 2 and tr["label_counts"]["no_relation"] == 1
    assert "per:religion" in tr["labels_missing"]
    assert tr["source_counts"] == {"wikipedia": 4, "wikitree": 2}
    assert tr["type_pair_counts"] == {"ORG-LOC": 2, "PER-DAT": 2, "PER-LOC": 1, "PER-ORG": 1}
    assert tr["type_pair_label_counts"]["ORG-LOC"] == {"no_relation": 1, "org:place_of_headquarters": 1}
    lengths = [len(e.sentence) for e in hand_train()]
    assert tr["char_length"]["max"] == max(lengths) and tr["char_length"]["p50"] == float(np.percentile(lengths, 50))
    # 이순신 ends at 2, 1545년 starts at 5: two characters between them (the closest pairs in the data).
    assert tr["entity_positions"]["distance"]["min"] == 2 and tr["entity_positions"]["subject_start"]["max"] == 0
    assert tr["entity_positions"]["subject_first"] == 6
    assert te["duplicates"]["rows"] == 0 and te["conflicts"]["groups"] == 0 and te["label_counts"] == {}

    (comp,) = data["comparisons"]
    assert (comp["reference"], comp["other"]) == ("train.csv", "test.csv")
    assert comp["overlap"]["sentences"] == 1 and comp["overlap"]["rows"] == 1 and comp["overlap"]["identical_inputs"] == 1
    assert comp["overlap"]["sentence_share"] == round(1 / 3, 4)
    assert comp["shift"]["source_shares"]["policy_briefing"] == [0.0, round(1 / 3, 4)]
    assert comp["shift"]["source_tvd"] == pytest.approx(2 / 3, abs=1e-3)
    assert 0 < comp["shift"]["char_length"]["ks"] <= 1
    assert data["totals"] == {"files": 2, "rows": 9, "problems": 0, "duplicates": 1, "conflicts": 1,
                              "multi_pair_sentences": 1, "overlap_sentences": 1}


def test_gap_and_helpers() -> None:
    e = ex(0, S1, ("이순신", "PER"), ("1545년", "DAT"), None)
    from kre.eda.stats import entity_gap

    assert entity_gap(e) == 2
    assert entity_gap(ex(0, S1, ("1545년", "DAT"), ("이순신", "PER"), None)) == 2
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([1, 2], [3, 4]) == 1.0
    assert ks_statistic([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert ks_statistic([], [1]) is None
    assert summarize([])["mean"] is None
    assert summarize([1, 2, 3, 4])["p50"] == 2.5
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0


def test_bad_rows_are_reported_not_fatal(tmp_path: Path, kre) -> None:
    good = write_examples(tmp_path / "good.csv", synth_examples(6, seed=2))
    lines = good.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    # Row 2: wrong offsets for the subject; row 4: unknown label; row 5: wrong number of fields.
    fixed = re.sub(r"'start_idx': (\d+)", lambda m: f"'start_idx': {int(m.group(1)) + 1}", rows[1], count=1)
    assert fixed != rows[1]
    rows[1] = fixed
    rows[3] = rows[3].rsplit(",", 2)[0] + ",per:favourite_food," + rows[3].rsplit(",", 1)[1]
    rows[4] = "99,only three,fields"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")

    root = tmp_path / "root"
    result = kre("eda", bad, "--root", root, ok=True)
    assert "fail validation" in result.output
    (art,) = artifacts(root)
    stats = json.loads((art / "stats.json").read_text(encoding="utf-8"))
    f = stats["files"][0]
    assert f["rows_read"] == 6 and f["rows"] == 3 and f["problems"] == 3
    found = {(p["row"], p["field"]) for p in f["problem_list"]}
    assert found == {(2, "subject_entity"), (4, "label"), (5, None)}
    assert "per:favourite_food" in (art / "report.md").read_text(encoding="utf-8")
    assert load_artifact(art).metrics["problems"] == 3


@pytest.mark.parametrize("case", ["missing_columns", "not_found", "empty"])
def test_unreadable_file_exits_1_without_artifact(tmp_path: Path, kre, train_csv: Path, case: str) -> None:
    bad = tmp_path / "bad.csv"
    if case == "missing_columns":
        bad.write_text("id,text\n1,x\n", encoding="utf-8")
    elif case == "empty":
        bad.write_text("", encoding="utf-8")
    root = tmp_path / "root"
    result = kre("eda", train_csv, bad, "--root", root, ok=False)
    assert result.exit_code == 1
    assert "Error:" in result.output and str(bad) in result.output
    assert artifacts(root) == []
    assert not (root / "eda").exists() or not any(p.name.startswith(".staging") for p in (root / "eda").iterdir())


def test_cli_writes_all_files_and_manifest(tmp_path: Path, kre, train_csv: Path) -> None:
    test_csv = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(30, seed=9)))
    root = tmp_path / "root"
    result = kre("eda", train_csv, test_csv, "--root", root, "--name", "mine", ok=True)
    assert "Label distribution" in result.output and "Overlap and shift" in result.output
    (art,) = artifacts(root)
    assert art.name == "0001-mine"
    artifact = load_artifact(art, kind="eda")
    files = {p.name for p in art.iterdir()}
    plots = PLOTS | {"adversarial.png"}  # two files: the train-vs-test classifier runs too
    assert {"report.md", "stats.json", "manifest.json"} | plots == files
    assert set(artifact.manifest["outputs"]) == files - {"manifest.json"}
    for png in plots:
        assert (art / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (art / "report.md").read_text(encoding="utf-8")
    assert all(f"({png})" in report for png in plots)
    assert [(i["role"], Path(i["path"]).name) for i in artifact.inputs] == [("data", "train.csv"), ("data", "test.csv")]
    stats = json.loads((art / "stats.json").read_text(encoding="utf-8"))
    metrics = artifact.metrics
    assert metrics["rows"] == 150 and metrics["problems"] == 0
    assert metrics["duplicates"] == stats["totals"]["duplicates"] and metrics["conflicts"] == stats["totals"]["conflicts"]
    assert artifact.params["files"] == [str(train_csv), str(test_csv)] and artifact.params["model"] is None
    assert "duration_s" in artifact.manifest
    # A second run makes a new version, never overwriting the first.
    kre("eda", train_csv, "--root", root, ok=True)
    assert [p.name for p in artifacts(root)] == ["0001-mine", "0002-train"]
    assert not (artifacts(root)[1] / "shift.png").exists()


def test_model_token_lengths(tmp_path: Path, kre, tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    examples = synth_examples(20, seed=4)
    long_sentence = "이순신 장군 " * 100 + "세종"  # ~300 tokens, the object at the very end
    medium = "이순신 장군 " * 50  # ~150 tokens, both entities at the start
    examples.append(Example("long", long_sentence, ent(long_sentence, "이순신", "PER"),
                            Entity("세종", len(long_sentence) - 2, len(long_sentence) - 1, "PER"), "no_relation", "wikipedia"))
    examples.append(ex(999, medium, ("이순신", "PER"), ("장군", "POH"), "per:title"))
    data = write_examples(tmp_path / "train.csv", examples)
    root = tmp_path / "root"
    result = kre("eda", data, "--model", tiny_model, "--root", root, ok=True)
    assert "tokens p50/p95/max" in result.output
    (art,) = artifacts(root)
    assert (art / "lengths_tokens.png").exists()
    stats = json.loads((art / "stats.json").read_text(encoding="utf-8"))
    tok = AutoTokenizer.from_pretrained(tiny_model)
    expected = [len(tok(e.sentence)["input_ids"]) for e in examples]
    assert max(expected) > 256 and min(expected) < 128
    t = stats["files"][0]["token_length"]
    assert t["max"] == max(expected) and t["p50"] == float(np.percentile(expected, 50))
    assert t["over_128"] == sum(n > 128 for n in expected) == 2 and t["over_256"] == sum(n > 256 for n in expected) == 1
    assert t["entity_cut_at_128"] == 1 and t["entity_cut_at_256"] == 1
    artifact = load_artifact(art)
    assert artifact.metrics["token_over_128"] == 2 and artifact.metrics["token_over_256"] == 1
    assert {"role": "tokenizer", "ref": str(tiny_model)} in artifact.inputs


def test_bad_model_is_one_line_error(tmp_path: Path, kre, train_csv: Path) -> None:
    root = tmp_path / "root"
    result = kre("eda", train_csv, "--model", str(tmp_path / "no-such-model"), "--root", root, ok=False)
    assert result.exit_code == 1 and "cannot load a tokenizer" in result.output
    assert artifacts(root) == []


def test_labels_file_limits_the_label_set(tmp_path: Path, hand_files: tuple[Path, Path]) -> None:
    train, _ = hand_files
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"no_relation": 0, "per:date_of_birth": 1, "per:place_of_birth": 2}), encoding="utf-8")
    artifact = run_eda(paths=[train], root=tmp_path / "root", labels=labels)
    stats = json.loads(artifact.file("stats.json").read_text(encoding="utf-8"))
    f = stats["files"][0]
    assert f["rows"] == 4 and f["problems"] == 2
    assert {p["field"] for p in f["problem_list"]} == {"label"}
    assert stats["labels"] == ["no_relation", "per:date_of_birth", "per:place_of_birth"]
    assert [i["role"] for i in artifact.inputs] == ["data", "labels"]


def test_file_with_no_valid_row_is_still_reported(tmp_path: Path) -> None:
    bad = tmp_path / "allbad.csv"
    bad.write_text(
        "id,sentence,subject_entity,object_entity,label,source\n"
        "1,abc,\"{'word': 'zz', 'start_idx': 0, 'end_idx': 1, 'type': 'PER'}\","
        "\"{'word': 'c', 'start_idx': 2, 'end_idx': 2, 'type': 'PER'}\",no_relation,w\n",
        encoding="utf-8",
    )
    artifact = run_eda(paths=[bad], root=tmp_path / "root")
    assert artifact.metrics["rows"] == 0 and artifact.metrics["problems"] == 1
    assert {p.name for p in artifact.path.iterdir()} == {"manifest.json", "report.md", "stats.json", "problems.png"}
    assert "offsets 0..1" in (artifact.path / "report.md").read_text(encoding="utf-8")
