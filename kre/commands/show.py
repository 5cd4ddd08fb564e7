"""`kre show`: an artifact's manifest in brief and its lineage tree with hash checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ._common import RootOpt, cli_errors
from ._output import emit_json, print_renderable, print_wide_table

_STYLE = {"ok": "green", "changed": "bold red", "missing": "bold red", "unchecked": "dim", "new": "yellow", "link": "bold red",
          "edited": "bold red", "unverified": "yellow"}
_MANIFEST_NOTE = {
    "ok": "self-hash ok",
    "edited": "edited after publication (its self-hash differs): refused as an input",
    "unverified": "no self-hash (written by an older kre): not verified",
}


@cli_errors
def show_cli(
    artifact: Annotated[str, typer.Argument(help="Artifact folder or reference (runs/latest, ensembles/0002, splits/0001-x ...).", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout (nothing else is printed).")] = False,
    check: Annotated[bool, typer.Option("--check/--no-check", help="Check the hashes of every artifact and file in the lineage.")] = True,
    root: RootOpt = Path("."),
) -> None:
    """Summarise an artifact's manifest and draw its lineage back to the raw files, marking hashes ok / changed / missing."""
    from ..artifacts import ArtifactStore
    from ..fileio import dumps_json
    from ..lineage import lineage, summarize

    art = ArtifactStore(root).resolve(artifact, verify=False)
    summary = summarize(art)
    tree = lineage(art, root, check=check)
    if as_json:
        emit_json(dumps_json({"artifact": summary, "lineage": tree.to_dict(), "all_ok": tree.all_ok}))
        return
    _print_summary(summary)
    _print_tree(tree)


def _flat(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict) and data:
        out: list[tuple[str, Any]] = []
        for k in sorted(data):
            out.extend(_flat(data[k], f"{prefix}{k}."))
        return out
    return [(prefix[:-1], data)]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list) and len(value) > 8:
        return f"[{', '.join(map(str, value[:8]))}, ... ({len(value)} items)]"
    return str(value)


def _print_summary(s: dict[str, Any]) -> None:
    from rich.markup import escape

    from ..console import result
    from ..fileio import human_size

    facts: list[tuple[str, Any]] = [("path", s["path"]), ("created", s["created"]), ("command", s["command"])]
    state = s["manifest"]
    if s.get("seed") is not None:
        facts.append(("seed", s["seed"]))
    facts += sorted(s["info"].items())
    if s.get("versions"):
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in sorted(s["versions"].items()))))
    pad = max(len(k) for k, _ in facts)
    result(f"[bold]{escape(s['id'])}[/bold]  ({s['kind']})")
    pad = max(pad, len("manifest"))
    for key, value in facts:
        result(f"  {key:<{pad}}  {escape(_value(value))}")
    result(f"  {'manifest':<{pad}}  [{_STYLE[state]}]{escape(_MANIFEST_NOTE[state])}[/]")
    if s["params"]:
        print_wide_table("Parameters", ["param", "value"], [(k, escape(_value(v))) for k, v in _flat(s["params"])], left=2)
    metrics = [(k, v) for k, v in _flat(s["metrics"]) if ".per_class." not in f".{k}."] if s["metrics"] else []
    if metrics:
        print_wide_table("Metrics", ["metric", "value"], [(escape(k), escape(_value(v))) for k, v in metrics])
    rows = []
    for o in s["outputs"]:
        size = "-" if o["size"] is None else human_size(o["size"])
        rows.append((escape(o["file"]), size, f"[{_STYLE[o['status']]}]{o['status']}[/]"))
    if rows:
        print_wide_table("Outputs", ["file", "size", "hash"], rows)


def _label(node: Any) -> str:
    from rich.markup import escape

    status = f"[{_STYLE.get(node.status, 'white')}]{node.status}[/]"
    kind = {"artifact": "", "file": "file ", "ref": "ref "}.get(node.type, "")
    text = f"{status}  {kind}[bold]{escape(node.label)}[/bold]" if node.type == "artifact" else f"{status}  {kind}{escape(node.label)}"
    if node.role:
        text += f" [dim]({escape(str(node.role))})[/dim]"
    if node.repeated:
        text += " [dim](shown above)[/dim]"
    if node.detail:
        text += f" [dim]- {escape(node.detail)}[/dim]"
    return text


def _print_tree(root_node: Any) -> None:
    from rich.tree import Tree

    from ..console import result, warn

    def add(branch: Tree, node: Any) -> None:
        for child in node.children:
            add(branch.add(_label(child)), child)

    tree = Tree(_label(root_node), guide_style="dim")
    add(tree, root_node)
    result("[bold]Lineage[/bold]")
    print_renderable(tree)
    nodes = root_node.walk()
    bad = [n for n in nodes if n.status in ("changed", "missing")]
    if bad:
        warn(f"{len(bad)} of {len(nodes)} lineage entries changed or missing: " + ", ".join(f"{n.label} ({n.status})" for n in bad[:5]))
    else:
        checked = sum(n.status == "ok" for n in nodes)
        result(f"[green]All {checked} checked hashes ok[/green]" if checked else "[dim]No hashes checked.[/dim]")
