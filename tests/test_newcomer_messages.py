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
