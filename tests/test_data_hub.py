"""`hub:` data sources: KLUE-RE layout read with `datasets` from local folders, offline; same validation as CSV."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import ArtifactStore, load_artifact
from kre.data import Example, read_dataset
from kre.data.hub import data_sha256, parse_hub_source
from kre.errors import DataError
from kre.labels import DEFAULT_LABELS

#: ClassLabel order of the fake hub dataset: deliberately not kre's order, so ids must be mapped by name.
HUB_NAMES = list(reversed(DEFAULT_LABELS.names))


def _columns(rows: list[Example], names: list[str] = HUB_NAMES) -> dict[str, list]:
    def entity(e) -> dict:
        return {"word": e.word, "start_idx": e.start, "end_idx": e.end, "type": e.type}

    return {
        "guid": [e.id for e in rows],
        "sentence": [e.sentence for e in rows],
        "subject_entity": [entity(e.subject) for e in rows],
        "object_entity": [entity(e.object) for e in rows],
        "label": [names.index(e.label) if e.label is not None else -1 for e in rows],
        "source": [e.source for e in rows],
    }


def _features():
    import datasets

    ent = datasets.Features({k: datasets.Value(t) for k, t in
                             (("word", "string"), ("start_idx", "int32"), ("end_idx", "int32"), ("type", "string"))})
    return datasets.Features({"guid": datasets.Value("string"), "sentence": datasets.Value("string"), "subject_entity": ent,
                              "object_entity": ent, "label": datasets.ClassLabel(names=HUB_NAMES), "source": datasets.Value("string")})


def save_klue_layout(folder: Path, splits: dict[str, list[Example]], *, parquet: bool = False) -> Path:
    """A local copy in the official KLUE-RE hub layout (save_to_disk folder, or one parquet file per split)."""
    import datasets

    dd = datasets.DatasetDict({k: datasets.Dataset.from_dict(_columns(v), features=_features()) for k, v in splits.items()})
    if parquet:
        folder.mkdir(parents=True)
        for name, ds in dd.items():
            ds.to_parquet(str(folder / f"{name}.parquet"))
    else:
        dd.save_to_disk(str(folder))
    return folder


TRAIN = synth_examples(120, seed=1)
VALID = synth_examples(40, seed=2)


@pytest.fixture(scope="module")
def klue_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_klue_layout(tmp_path_factory.mktemp("hub") / "klue_re", {"train": TRAIN, "validation": VALID})


def test_parse_sources() -> None:
    s = parse_hub_source("hub:klue/klue:re")
    assert (s.name, s.config, s.split, s.local) == ("klue/klue", "re", "train", False)
    s = parse_hub_source("hub:klue/klue:re:validation")
    assert (s.config, s.split) == ("re", "validation")
    s = parse_hub_source("hub:/data/copy:validation")  # a local folder: one part after it is the split
    assert (s.name, s.config, s.split, s.local) == ("/data/copy", None, "validation", True)
    s = parse_hub_source("hub:./copy:re:test")
    assert (s.config, s.split, s.local) == ("re", "test", True)
    for bad in ("hub:", "hub:a:b:c:d"):
        with pytest.raises(DataError, match="not a hub data source"):
            parse_hub_source(bad)


@pytest.mark.parametrize("parquet", [False, True])
def test_reads_like_the_csv_with_labels_mapped_by_name(tmp_path: Path, klue_dir: Path, parquet: bool) -> None:
    folder = save_klue_layout(tmp_path / "copy", {"train": TRAIN, "validation": VALID}, parquet=parquet)
    csv_rows = read_dataset(write_examples(tmp_path / "valid.csv", VALID)).examples
    got = read_dataset(f"hub:{folder}:validation")
    assert got.format == "hub" and got.examples == csv_rows
    assert [e.label for e in got.examples] == [e.label for e in VALID]  # ids went through the ClassLabel names
    assert read_dataset(f"hub:{folder}").examples == read_dataset(write_examples(tmp_path / "t.csv", TRAIN)).examples
    # the content hash does not depend on where or how the copy is stored, only on the rows
    assert data_sha256(f"hub:{folder}:validation") == data_sha256(f"hub:{klue_dir}:validation")
    assert data_sha256(f"hub:{folder}:validation") != data_sha256(f"hub:{folder}:train")


def test_same_row_and_field_errors_as_csv(tmp_path: Path) -> None:
    bad = list(VALID)
    bad[2] = replace(bad[2], subject=replace(bad[2].subject, start=bad[2].subject.start + 1, end=bad[2].subject.end + 1))
    folder = save_klue_layout(tmp_path / "bad", {"validation": bad})
    csv_path = write_examples(tmp_path / "bad.csv", bad)
    with pytest.raises(DataError) as from_csv:
        read_dataset(csv_path)
    with pytest.raises(DataError) as from_hub:
        read_dataset(f"hub:{folder}:validation")
    assert (from_hub.value.row, from_hub.value.field, from_hub.value.detail) == (3, "subject_entity", from_csv.value.detail)
    assert str(from_hub.value).startswith(f"hub:{folder}:validation: row 3, field 'subject_entity': offsets")
    lenient = read_dataset(f"hub:{folder}:validation", strict=False)
    assert len(lenient.examples) == len(bad) - 1 and lenient.problems[0].row == 3


def test_unlabeled_rows_and_required_labels(tmp_path: Path) -> None:
    folder = save_klue_layout(tmp_path / "test", {"test": unlabeled(VALID[:6])})
    got = read_dataset(f"hub:{folder}:test")
    assert all(e.label is None for e in got.examples)
    with pytest.raises(DataError, match=r"row 1, field 'label': missing label"):
        read_dataset(f"hub:{folder}:test", require_labels=True)


def test_refusals_are_one_line(klue_dir: Path) -> None:
    with pytest.raises(DataError, match="no split 'test'; the folder has train, validation"):
        read_dataset(f"hub:{klue_dir}:test")
    with pytest.raises(DataError, match="no such folder"):
        read_dataset(f"hub:{klue_dir}-missing:train")
    with pytest.raises(DataError) as offline:  # HF_HUB_OFFLINE=1 and an empty HF_HOME (conftest)
        read_dataset("hub:klue/klue:re")
    assert "cannot reach the Hugging Face hub" in str(offline.value) and "\n" not in str(offline.value)
    assert "save_to_disk" in (offline.value.hint or "")


def test_split_and_eda_cli_record_the_source(kre, klue_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    kre("split", f"hub:{klue_dir}", "--root", root, ok=True)
    (split,) = ArtifactStore(root).list("splits")
    art = load_artifact(split)
    (entry,) = art.inputs
    assert entry["role"] == "data" and entry["ref"] == f"hub:{klue_dir}"
    assert (entry["dataset"], entry["config"], entry["split"], entry["rows"]) == (str(klue_dir), None, "train", 120)
    assert len(entry["sha256"]) == 64 and entry["fingerprint"]
    report = json.loads((split / "report.json").read_text(encoding="utf-8"))
    assert report["input"]["sha256"] == entry["sha256"]
    kre("eda", f"hub:{klue_dir}", f"hub:{klue_dir}:validation", "--root", root, "--no-adversarial", ok=True)
    (eda,) = ArtifactStore(root).list("eda")
    assert [i["split"] for i in load_artifact(eda).inputs] == ["train", "validation"]
    result = kre("split", "hub:klue/klue:re", "--root", root, ok=False)
    assert result.exit_code == 1 and "cannot reach the Hugging Face hub" in result.output
    assert len(ArtifactStore(root).list("splits")) == 1


def test_tapt_texts_from_hub(klue_dir: Path, tmp_path: Path) -> None:
    from kre.tapt.texts import collect_texts

    got = collect_texts([f"hub:{klue_dir}"], store=ArtifactStore(tmp_path), extra=[f"hub:{klue_dir}:validation"])
    assert set(got.texts) == {e.sentence for e in TRAIN + VALID}
    assert [s.role for s in got.sources] == ["data", "extra"]


def test_train_test_and_predict_read_hub_sources(kre, tiny_model: Path, klue_dir: Path, tmp_path: Path) -> None:
    from kre.training.training_run import train
    from test_train import make_split, tiny_config

    root = tmp_path / "root"
    run = train(data=make_split(root, folds=0), config=tiny_config(tiny_model, max_steps=1), root=root,
                test=f"hub:{klue_dir}:validation")
    assert run is not None and run.has("probs.csv")
    (test_input,) = [i for i in run.inputs if i["role"] == "test"]
    assert test_input["split"] == "validation" and test_input["rows"] == len(VALID)
    kre("predict", run.path, f"hub:{klue_dir}:validation", "--root", root, ok=True)
    (pred,) = ArtifactStore(root).list("predictions")
    art = load_artifact(pred)
    assert "micro_f1" in art.metrics  # the hub split is labeled: the prediction is scored
    assert [i.get("split") for i in art.inputs if i["role"] == "data"] == ["validation"]


def test_string_labels_and_unknown_class_names(tmp_path: Path) -> None:
    import datasets

    cols = _columns(VALID[:4])
    cols["label"] = [e.label for e in VALID[:4]]  # a copy with label names instead of ClassLabel ids
    datasets.Dataset.from_dict(cols).save_to_disk(str(tmp_path / "strings"))
    assert [e.label for e in read_dataset(f"hub:{tmp_path / 'strings'}").examples] == [e.label for e in VALID[:4]]
    names = HUB_NAMES[:-1] + ["per:favourite_food"]  # a class kre does not know
    rows = [replace(e, label="per:favourite_food") for e in VALID[:3]]
    feats = _features()
    feats["label"] = datasets.ClassLabel(names=names)
    datasets.Dataset.from_dict(_columns(rows, names), features=feats).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(DataError, match=r"row 1, field 'label': unknown label 'per:favourite_food'"):
        read_dataset(f"hub:{tmp_path / 'odd'}")
