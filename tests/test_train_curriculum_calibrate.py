"""`kre train --calibrate` and `--curriculum` on a tiny model; option parsing and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_train import make_split, runs, tiny_config
from kre.artifacts import load_artifact
from kre.data import read_dataset
from kre.data.probs import read_probs
from kre.errors import ConfigError
from kre.modeling.collate import Collator
from kre.training.curriculum import CurriculumSampler, easy_to_hard
from kre.training.options import check_curriculum, parse_lr, parse_seeds
from kre.training.training_run import train


def test_calibrate_writes_report_and_predict_applies_temperature(kre, tiny_model: Path, tmp_path: Path) -> None:
    from helpers import synth_examples, unlabeled, write_examples

    root = tmp_path / "root"
    make_split(root)
    test_csv = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(10, seed=11)))
    res = kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--max-steps", "3", "--batch-size", "8",
              "--max-length", "64", "--calibrate", "--test", test_csv)
    assert "temperature" in res.output and "NLL before -> after" in res.output
    run = load_artifact(runs(root)[-1])
    t = run.metrics["temperature"]
    report = json.loads((run.path / "calibration.json").read_text(encoding="utf-8"))
    assert report["temperature"] == t and set(report["before"]) == {"nll", "ece", "auprc"}
    assert report["after"]["nll"] <= report["before"]["nll"] + 1e-9  # T minimises the validation NLL
    metrics = json.loads((run.path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["calibration"]["temperature"] == t
    kre("predict", run.id, test_csv, "--root", root)
    predicted = read_probs(next((root / "predictions").iterdir()) / "probs.csv").probs
    np.testing.assert_allclose(predicted, read_probs(run.path / "probs.csv").probs, atol=1e-6)


def _record_train_batches(monkeypatch: pytest.MonkeyPatch, size: int) -> list[list[int]]:
    seen: list[list[int]] = []
    original = Collator.__call__

    def spy(self, features):  # type: ignore[no-untyped-def]
        if len(features) == size:  # training batches (evaluation batches are bigger)
            seen.append([int(f["length"]) for f in features])
        return original(self, features)

    monkeypatch.setattr(Collator, "__call__", spy)
    return seen


def test_length_curriculum_orders_first_epoch_only(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    make_split(root)  # 32 training rows
    seen = _record_train_batches(monkeypatch, 8)
    art = train(data="splits/latest", root=root,
                config=tiny_config(tiny_model, epochs=2, max_steps=0, batch_size=8, eval_batch_size=16, curriculum="length"))
    assert art is not None and art.params["curriculum"] == "length"
    assert len(seen) == 8
    first = [n for batch in seen[:4] for n in batch]
    later = [n for batch in seen[4:] for n in batch]
    assert first == sorted(first) and len(set(first)) > 1
    assert later != sorted(later)


def test_sampler_epochs() -> None:
    sampler = CurriculumSampler(easy_to_hard(np.array([3.0, 1.0, 2.0, 1.0])), fallback=[9, 8, 7, 6])
    sampler.set_epoch(0)
    assert list(sampler) == [1, 3, 2, 0]
    sampler.set_epoch(1)
    assert list(sampler) == [9, 8, 7, 6]
    plain = CurriculumSampler(np.array([2, 0, 1]), fallback=[0, 1, 2])
    assert list(plain) == [2, 0, 1] and list(plain) == [0, 1, 2]  # without set_epoch: first pass is epoch 0


def test_confidence_curriculum_needs_out_of_fold_probabilities(tiny_model: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "root"
    make_split(root)
    plain = train(data="splits/latest", root=root, config=tiny_config(tiny_model, max_steps=1))
    with pytest.raises(ConfigError, match="not a k-fold run"):
        train(data="splits/latest", root=root, config=tiny_config(tiny_model, curriculum=f"confidence:{plain.id}"))
    kfold = train(data="splits/latest", root=root, config=tiny_config(tiny_model, folds=3, max_steps=1))
    oof = read_probs(kfold.path / "valid_probs.csv")
    gold_p = {i: float(oof.probs[k, oof.gold_ids[k]]) for k, i in enumerate(oof.ids)}
    orders: list[list[int]] = []
    original = CurriculumSampler.__init__

    def spy(self, order, fallback):  # type: ignore[no-untyped-def]
        orders.append([int(i) for i in order])
        original(self, order, fallback)

    monkeypatch.setattr(CurriculumSampler, "__init__", spy)
    art = train(data="splits/latest", root=root,
                config=tiny_config(tiny_model, epochs=1, max_steps=0, batch_size=4, curriculum=f"confidence:{kfold.id}"))
    assert art is not None and len(orders) == 1
    train_ids = [e.id for e in read_dataset(next((root / "splits").glob("*/train.csv"))).examples]
    train_labels = [e.label for e in read_dataset(next((root / "splits").glob("*/train.csv"))).examples]
    assert sorted(orders[0]) == list(range(len(train_ids)))
    for label in set(train_labels):  # within each gold label: surest (easiest) rows first
        confidence = [gold_p[train_ids[i]] for i in orders[0] if train_labels[i] == label]
        assert confidence == sorted(confidence, reverse=True)
    scores = np.array([1.0 - gold_p[i] for i in train_ids])
    assert orders[0] == easy_to_hard(scores, train_labels).tolist()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "1,,2"], "empty item"),
        (["--seeds", "1,x"], "'x' is not an integer"),
        (["--seeds", "3"], "at least two seeds"),
        (["--seeds", "1,1"], "repeated"),
        (["--curriculum", "confidence:"], "needs a run"),
        (["--curriculum", "hardness"], "--curriculum must be one of"),
        (["--curriculum", "confidence:runs/0042"], "no such artifact"),
        (["--lr", "auto:"], "needs an lrfind artifact"),
        (["--lr", "fast"], "not a number or auto:LRFIND"),
        (["--lr", "auto:lrfind/0007"], "no such artifact"),
    ],
)
def test_bad_options_exit_1(kre, tiny_model: Path, tmp_path: Path, args: list[str], message: str) -> None:
    root = tmp_path / "root"
    make_split(root)
    res = kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--max-steps", "1", "--max-length", "64",
              *args, ok=False)
    assert res.exit_code == 1
    assert "Error:" in res.output and message in res.output
    assert runs(root) == []


def test_option_parsers() -> None:
    assert parse_seeds("") == [] and parse_seeds(" 1, 2,3 ") == [1, 2, 3]
    assert check_curriculum("confidence:runs/latest") == ("confidence", "runs/latest")
    assert parse_lr("3e-5") == (3e-5, "") and parse_lr("auto:0001") == (None, "lrfind/0001")
    from kre.training.config import TrainConfig

    assert TrainConfig(model="m", seeds=[1, 2]).seeds == "1,2"  # a list in a config file


def _longest_falling_run(values: list[int]) -> int:
    best = run = 1
    for before, after in zip(values, values[1:]):
        run = run + 1 if after <= before else 1
        best = max(best, run)
    return best


def test_training_batches_group_lengths_in_shuffled_order(tiny_model: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """kre's length grouping, not Trainer's: Trainer's sorts the batches of each mega-batch longest first (the model
    then sees lengths fall for many batches in a row, which measurably slowed learning); kre shuffles the batch order."""
    root = tmp_path / "root"
    make_split(root, n=240, n_valid=16)  # 224 training rows: 56 batches of 4 (Trainer's mega-batches: 14 batches)
    seen = _record_train_batches(monkeypatch, 4)
    train(data="splits/latest", root=root, config=tiny_config(tiny_model, epochs=2, max_steps=0, batch_size=4))
    assert len(seen) == 112
    epochs = [seen[:56], seen[56:]]
    for batches in epochs:
        assert sorted(n for b in batches for n in b) == sorted(n for b in epochs[0] for n in b)  # every row once
        assert max(batches[0]) == max(n for b in batches for n in b)  # the longest batch first (OOM shows at once)
        assert sum(max(b) - min(b) for b in batches) < sum(max(b) - min(b) for b in _random_batches(batches))  # grouped
        assert _longest_falling_run([max(b) for b in batches]) < 10  # Trainer's: runs of 14 falling batches
    assert epochs[0] != epochs[1]  # a new order every epoch


def _random_batches(batches: list[list[int]]) -> list[list[int]]:
    rows = np.random.default_rng(0).permutation([n for b in batches for n in b]).tolist()
    return [rows[k:k + 4] for k in range(0, len(rows), 4)]


def test_confidence_order_keeps_the_label_mix() -> None:
    """Easy to hard within each label: the first half of the epoch holds the easier half of every label."""
    labels = ["no_relation"] * 6 + ["per:title"] * 3 + ["org:founded"] * 3
    # the 6 no_relation rows are all easier than any other row: a plain sort would put them all first
    scores = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.5, 0.7, 0.9, 0.6, 0.8, 0.95])
    assert easy_to_hard(scores).tolist()[:6] == [0, 1, 2, 3, 4, 5]
    order = easy_to_hard(scores, labels).tolist()
    assert sorted(order) == list(range(12))
    first = [labels[i] for i in order[:6]]
    assert first.count("no_relation") == 3 and first.count("per:title") in (1, 2) and first.count("org:founded") in (1, 2)
    for label in set(labels):  # within a label: easy to hard
        rows = [i for i in order if labels[i] == label]
        assert [scores[i] for i in rows] == sorted(scores[i] for i in rows)
