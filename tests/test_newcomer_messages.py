"""Messages a new user reads: augment growth, demo summary."""

from __future__ import annotations

import re
from pathlib import Path

from kre.augment.pipeline import growth_message


def test_growth_message_states_rows_factor_and_cost() -> None:
    line = growth_message("augments/0001-x", {"original": 29134, "total": 87401, "new": 58267, "removed": 0}, 12.0)
    assert "29,134 -> 87,401 training rows (x3.00; 58,267 new, 0 removed)" in line
    assert "about 3.0x as long" in line
    same = growth_message("augments/0002-y", {"original": 100, "total": 100, "new": 10, "removed": 10}, 1.0)
    assert "x1.00" in same and "as long" not in same


def test_cli_augment_prints_growth(tmp_path: Path, kre) -> None:
    from test_augment import make_split

    split = make_split(tmp_path, n=160)
    out = kre("augment", split, "--root", tmp_path, "-m", "entity-swap", "-m", "aeda", ok=True).output
    match = re.search(r"([\d,]+) -> ([\d,]+) training rows \(x([\d.]+);", out)
    assert match, out
    before, after, factor = (float(g.replace(",", "")) for g in match.groups())
    assert after > before and abs(factor - after / before) < 0.01


def _publish(store, kind: str, slug: str, *, metrics: dict, seed: int | None, inputs: list) -> str:
    with store.create(kind, slug, params={}, seed=seed) as b:
        (b.path / "x.txt").write_text(slug)
        for art, role in inputs:
            b.add_input_artifact(art, role)
        b.metrics.update(metrics)
    return store.resolve(f"{kind}/latest").id


def test_demo_summary_shows_members_and_ensemble_and_best(tmp_path: Path) -> None:
    from kre.artifacts import ArtifactStore
    from kre.demo import best_step, next_steps, scored_steps
    from kre.pipeline import StepResult

    store = ArtifactStore(tmp_path)
    split = _publish(store, "splits", "s", metrics={}, seed=42, inputs=[])
    aug = _publish(store, "augments", "a", metrics={}, seed=42, inputs=[(store.resolve(split), "split")])
    run1 = _publish(store, "runs", "r1", metrics={"micro_f1": 32.26, "auprc": 20.0}, seed=1, inputs=[(store.resolve(aug), "data")])
    run2 = _publish(store, "runs", "r2", metrics={"micro_f1": 25.0, "auprc": 19.0}, seed=2, inputs=[(store.resolve(split), "data")])
    ens = _publish(
        store, "ensembles", "e", metrics={"micro_f1": 27.64, "auprc": 21.0}, seed=None,
        inputs=[(store.resolve(run1), "member-0"), (store.resolve(run2), "member-1")],
    )  # fmt: skip
    results = [StepResult(n, "ran", a, "k") for n, a in (("split", split), ("augment", aug), ("train-aug", run1), ("train-seed2", run2), ("ensemble", ens))]
    scored = scored_steps(tmp_path, results)
    assert [s.step for s in scored] == ["train-aug", "train-seed2", "ensemble"]
    assert scored[0].data == "augments/0001" and scored[1].data == "splits/0001" and scored[0].seed == "1"
    assert scored[2].data == "runs/0001+runs/0002" and scored[2].seed == "-" and scored[0].artifact == "runs/0001"
    best = best_step(scored)
    assert best is not None and best.step == "train-aug"  # the ensemble is not always best
    lines = next_steps(tmp_path / "kre-demo")
    assert any(f"kre runs --root {tmp_path / 'kre-demo'}" in line for line in lines)
    assert any("kre show ensembles/latest --root" in line for line in lines)


def test_eda_counts_all_rows_then_valid_and_invalid(tmp_path: Path, kre) -> None:
    from helpers import synth_examples, write_examples

    path = write_examples(tmp_path / "four.csv", synth_examples(4, seed=5))
    header, *rows = path.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 4
    rows[1] = rows[1].rsplit(",", 2)[0] + ",per:favourite_food," + rows[1].rsplit(",", 1)[1]  # unknown label
    rows[3] = "99,only three,fields"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    out = kre("eda", path, "--root", tmp_path / "root", ok=True).output
    assert "4 rows (2 valid, 2 invalid)" in " ".join(out.split())
    assert "1 exact duplicate rows" not in out and "1 conflicting inputs" not in out
