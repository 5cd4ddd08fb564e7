"""Farming folds out (`kre train --folds K --fold i`) and collecting them with `kre ensemble --folds`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import ArtifactStore
from kre.data import read_examples
from kre.data.probs import read_probs

COMMON = ("--batch-size", "8", "--max-steps", "2", "--max-length", "64")


def test_fold_runs_are_collected_out_of_fold(kre, tiny_model: Path, tmp_path: Path, train_csv: Path) -> None:
    root = tmp_path / "root"
    test_csv = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(8, seed=9)))
    kre("split", train_csv, "--root", root, "--folds", "3", ok=True)
    for i in range(3):
        kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--folds", "3", "--fold", str(i),
            "--test", test_csv, *COMMON, ok=True)
    store = ArtifactStore(root)
    fold_runs = store.load_all("runs")
    assert sorted(r.params["fold"] for r in fold_runs) == [0, 1, 2]

    # an ordinary ensemble refuses them: their validation rows differ
    kre("ensemble", *[str(r.path) for r in fold_runs], "--root", root, ok=False)
    out = kre("ensemble", *[str(r.path) for r in fold_runs], "--folds", "--root", root, ok=True).output
    assert "ensemble" in out
    ens = store.resolve("ensembles/latest")
    split = store.resolve("splits/latest")
    every_id = {e.id for e in read_examples(split.file("train.csv")) + read_examples(split.file("valid.csv"))}
    oof = read_probs(ens.file("valid_probs.csv"))
    assert set(oof.ids) == every_id and len(oof.ids) == len(every_id)  # each row once, out of fold
    test_mean = np.mean([read_probs(r.file("probs.csv")).probs for r in fold_runs], axis=0)
    np.testing.assert_allclose(read_probs(ens.file("probs.csv")).probs, test_mean, rtol=1e-9, atol=1e-12)
    assert ens.params["folds"]["missing"] == [] and ens.metrics["micro_f1"] >= 0


def test_collecting_refuses_non_fold_runs(kre, tiny_model: Path, tmp_path: Path, train_csv: Path) -> None:
    root = tmp_path / "root"
    test_csv = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(8, seed=9)))
    kre("split", train_csv, "--root", root, "--folds", "2", ok=True)
    kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--folds", "2", "--fold", "0", "--test", test_csv, *COMMON, ok=True)
    kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--test", test_csv, *COMMON, ok=True)
    runs = [str(p) for p in ArtifactStore(root).list("runs")]
    res = kre("ensemble", *runs, "--folds", "--root", root, ok=False)
    assert "not a single-fold run" in res.output
    assert not ArtifactStore(root).list("ensembles")
