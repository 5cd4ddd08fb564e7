"""`kre predict`: probabilities from a trained run, type restriction, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import ArtifactStore, load_artifact
from kre.data.probs import read_probs
from kre.metrics import evaluate
from kre.training.training_run import train
from test_train import make_split, tiny_config


@pytest.fixture(scope="module")
def trained(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(artifact root, run folder) of one tiny run."""
    root = tmp_path_factory.mktemp("predict_root")
    split = make_split(root, folds=0)
    art = train(data=split, config=tiny_config(tiny_model, max_steps=2), root=root)
    assert art is not None
    return root, art.path


def predictions(root: Path) -> list[Path]:
    return ArtifactStore(root).list("predictions")


def test_predict_reproduces_valid_probs_and_scores_labeled_data(kre, trained: tuple[Path, Path]) -> None:
    root, run = trained
    valid_csv = next((root / "splits").glob("0001-*")) / "valid.csv"
    before = len(predictions(root))
    kre("predict", run, valid_csv, "--root", root, "--name", "valid", ok=True)
    pred = predictions(root)[before]
    got = read_probs(pred / "probs.csv")
    want = read_probs(run / "valid_probs.csv")
    assert got.ids == want.ids
    assert np.allclose(got.probs, want.probs, atol=1e-6)  # the saved best model gives the run's own validation probs
    art = load_artifact(pred)
    expected = evaluate(np.asarray(want.labels.ids(want.gold)), want.probs, want.labels, detail=False)
    assert art.metrics["micro_f1"] == pytest.approx(expected["micro_f1"], abs=1e-6)
    assert art.params["models"] == 1 and art.params["restrict_types"] is False
    assert {i["role"] for i in art.inputs} == {"run", "data"}


def test_predict_restrict_types(kre, trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, run = trained
    rows = unlabeled(synth_examples(12, seed=21))
    data = write_examples(tmp_path / "test.csv", rows)
    before = len(predictions(root))
    kre("predict", run, data, "--root", root, "--restrict-types", ok=True)
    probs = read_probs(predictions(root)[before] / "probs.csv")
    subject = {e.id: e.subject.type for e in rows}
    for ex_id, row in zip(probs.ids, probs.probs):
        banned = "per:" if subject[ex_id] == "ORG" else "org:"
        assert all(p == 0.0 for name, p in zip(probs.labels.names, row) if name.startswith(banned))
        assert row.sum() == pytest.approx(1.0)
    kre("predict", run, data, "--root", root, ok=True)  # the run was trained without restriction
    free = read_probs(predictions(root)[before + 1] / "probs.csv")
    assert (free.probs > 0).all()


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,sentence,subject_entity\n1,x,y\n", "missing column"),
        ("id,sentence,subject_entity,object_entity,label,source\n"
         "0,이순신은 장군이다.,\"{'word': '이순신', 'start_idx': 0, 'end_idx': 2, 'type': 'PER'}\",oops,100,s\n", "row 1"),
        ("", "empty"),
    ],
)
def test_predict_bad_data_exits_1(kre, trained: tuple[Path, Path], tmp_path: Path, content: str, message: str) -> None:
    root, run = trained
    bad = tmp_path / "bad.csv"
    bad.write_text(content, encoding="utf-8")
    before = len(predictions(root))
    res = kre("predict", run, bad, "--root", root, ok=False)
    assert res.exit_code == 1 and "Error:" in res.output and message in res.output and "bad.csv" in res.output
    assert len(predictions(root)) == before


def test_predict_bad_run_exits_1(kre, trained: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = trained
    data = write_examples(tmp_path / "t.csv", unlabeled(synth_examples(4, seed=2)))
    res = kre("predict", "splits/latest", data, "--root", root, ok=False)
    assert res.exit_code == 1 and "expected a 'runs' artifact" in res.output
    res = kre("predict", "runs/0042", data, "--root", root, ok=False)
    assert res.exit_code == 1 and "no such artifact" in res.output
    res = kre("predict", "runs/latest", tmp_path / "missing.csv", "--root", root, ok=False)
    assert res.exit_code == 1 and "file not found" in res.output


def test_predict_streams_length_ordered_batches(trained: tuple[Path, Path], tmp_path: Path) -> None:
    """Batches of at most batch_size rows, longest first (least padding); probabilities back in row order, float32."""
    from kre.labels import DEFAULT_LABELS
    from kre.modeling.encoding import encode_dataset
    from kre.modeling.heads import load_model
    from kre.training.inference import predict_probs

    _, run = trained
    model, tokenizer, meta = load_model(run / "model", device="cpu")
    rows = unlabeled(synth_examples(23, seed=8))
    dataset = encode_dataset(rows, tokenizer, meta["template"], DEFAULT_LABELS, tmp_path / "cache")
    widths: list[tuple[int, int]] = []
    real_forward = model.forward

    def recording(**batch):
        widths.append(tuple(batch["input_ids"].shape))
        return real_forward(**batch)

    model.forward = recording
    streamed = predict_probs(model, dataset, pad_token_id=tokenizer.pad_token_id, batch_size=5, device="cpu")
    assert [w[0] for w in widths] == [5, 5, 5, 5, 3]
    assert [w[1] for w in widths] == sorted((w[1] for w in widths), reverse=True)
    assert widths[0][1] == max(dataset["length"])
    widths.clear()
    whole = predict_probs(model, dataset, pad_token_id=tokenizer.pad_token_id, batch_size=64, device="cpu")
    assert len(widths) == 1
    assert streamed.dtype == np.float32 and streamed.shape == (23, 30)
    assert np.allclose(streamed, whole, atol=1e-5)
    for i in (0, 11, 22):  # each row alone gives the same probabilities: the order was restored
        alone = predict_probs(model, dataset.select([i]), pad_token_id=tokenizer.pad_token_id, batch_size=5, device="cpu")
        assert np.allclose(alone[0], streamed[i], atol=1e-5)


def test_predict_warns_once_about_unknown_subject_types(kre, trained: tuple[Path, Path], tmp_path: Path) -> None:
    from dataclasses import replace

    root, run = trained
    rows = unlabeled(synth_examples(10, seed=4))
    rows = [replace(e, subject=replace(e.subject, type="LOC")) if i in (2, 5, 7) else e for i, e in enumerate(rows)]
    data = write_examples(tmp_path / "odd.csv", rows)
    res = kre("predict", run, data, "--root", root, ok=True)
    assert res.output.count("subject type other than PER/ORG") == 1
    assert "3 row(s)" in res.output and ", ".join(rows[i].id for i in (2, 5, 7)) in res.output
