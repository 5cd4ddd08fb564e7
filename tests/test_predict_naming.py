"""A prediction folder is named after the run's slug and the data file, not the run's number."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import synth_examples, unlabeled, write_examples
from test_predict import predictions, trained  # noqa: F401 - the fixture


def test_prediction_folder_has_one_number(kre, trained: tuple[Path, Path], tmp_path: Path) -> None:  # noqa: F811
    root, run = trained
    data = write_examples(tmp_path / "test_data.csv", unlabeled(synth_examples(6, seed=4)))
    kre("predict", run, data, "--root", root, ok=True)
    name = predictions(root)[-1].name
    slug = run.name.split("-", 1)[1]
    assert re.fullmatch(r"\d{4}-.+", name) and not re.match(r"\d{4}-\d{4}-", name), name
    assert name.split("-", 1)[1].startswith(slug[:20])
