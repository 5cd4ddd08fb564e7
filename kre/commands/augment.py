"""`kre augment`: not built yet."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import cli_errors, not_built


@cli_errors
def augment_cli(args: Annotated[list[str] | None, typer.Argument(help="Arguments (not used yet).")] = None) -> None:
    """(Not built yet.)"""
    not_built("augment", "augment/tapt")
