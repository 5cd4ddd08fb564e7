"""`kre train --seeds`, `kre runs --group-seeds` and `kre train --find-lr` / `--lr auto:` on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from test_train import make_split, runs
from kre.artifacts import ArtifactStore, load_artifact
from kre.runs_table import seed_groups
from kre.training.lr_finder import lr_schedule, smooth, suggest
from kre.training.seeds import mean_std


def test_seeds_train_one_grouped_run_per_seed_and_runs_groups_them(kre, tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root)
    base = ["train", "splits/latest", "--model", tiny_model, "--root", root, "--max-steps", "2", "--batch-size", "8",
            "--max-length", "64"]
    res = kre(*base, "--seeds", "1,2,3")
    assert "mean ± std (n=3)" in res.output
    published = [load_artifact(p) for p in runs(root)]
    assert [r.manifest["seed"] for r in published] == [1, 2, 3]
    assert len({r.manifest["seed_group"] for r in published}) == 1
    assert all(r.params["seeds"] == "" for r in published)
    f1 = [r.metrics["micro_f1"] for r in published]
    mean, std = mean_std(f1)
    assert f"{mean:.2f} ± {std:.2f}" in res.output
    kre(*base, "--seed", "9", "--lr", "1e-4")  # another group (different lr), n = 1
    groups = seed_groups([load_artifact(p) for p in runs(root)])
    assert [g["n"] for g in groups] == [3, 1]
    assert groups[0]["seeds"] == [1, 2, 3] and groups[0]["micro_f1_mean"] == pytest.approx(mean)
    assert groups[0]["micro_f1_std"] == pytest.approx(std) and groups[1]["micro_f1_std"] is None
    table = kre("runs", "--root", root, "--group-seeds")
    assert "1,2,3" in table.output and "±" in table.output
    as_json = json.loads(kre("runs", "--root", root, "--group-seeds", "--json").stdout)
    assert [g["n"] for g in as_json] == [3, 1]


def test_schedule_smoothing_and_suggestion() -> None:
    lrs = lr_schedule(50)
    assert lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(1.0) and np.all(np.diff(lrs) > 0)
    assert smooth([2.0, 2.0, 2.0]).tolist() == pytest.approx([2.0, 2.0, 2.0])  # bias-corrected
    # a loss that falls fastest at lr 1e-3 (log10 = -3), bottoms out at 1e-1 and then explodes
    x = np.log10(lrs)
    loss = 3.0 - 2.0 / (1.0 + np.exp(-(x + 3.0) * 3)) + np.where(x > -1, (x + 1) * 20, 0.0)
    found = suggest(lrs, loss)
    assert 3e-4 < found["steepest"] < 3e-3
    assert found["min_loss_lr"] == pytest.approx(lrs[np.argmin(loss)])
    assert found["min_over_10"] == pytest.approx(found["min_loss_lr"] / 10)


def test_find_lr_publishes_and_train_uses_it(kre, tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root)
    res = kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--find-lr", "--max-steps", "30",
              "--batch-size", "8", "--max-length", "64")
    assert "--lr auto:lrfind/0001" in res.output
    store = ArtifactStore(root)
    finding = store.resolve("lrfind/latest")
    record = json.loads((finding.path / "lr_finder.json").read_text(encoding="utf-8"))
    assert (finding.path / "lr_finder.png").stat().st_size > 0
    assert 3 <= len(record["lrs"]) <= 30 and len(record["losses"]) == len(record["lrs"])
    assert record["lrs"][0] == pytest.approx(1e-7) and record["suggestion"] == finding.metrics["suggested_lr"]
    assert runs(root) == []  # a range test trains nothing that is kept
    kre("train", "splits/latest", "--model", tiny_model, "--root", root, "--lr", "auto:lrfind/latest", "--max-steps", "1",
        "--batch-size", "8", "--max-length", "64")
    run = load_artifact(runs(root)[-1])
    assert run.params["lr"] == pytest.approx(record["suggestion"]) and run.params["lr_auto"] == finding.id


def test_find_lr_refusals(kre, tiny_model: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_split(root)
    base = ["train", "splits/latest", "--model", tiny_model, "--root", root, "--find-lr", "--max-length", "64"]
    res = kre(*base, "--max-steps", "1000", ok=False)
    assert res.exit_code == 1 and "above 300" in res.output
    res = kre(*base, "--seeds", "1,2", ok=False)
    assert res.exit_code == 1 and "exclude each other" in res.output
    assert not (root / "lrfind").exists() or not ArtifactStore(root).list("lrfind")
