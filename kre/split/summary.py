"""Rich summary tables of a published split (printed through kre.console)."""

from __future__ import annotations

from ..artifacts import Artifact
from ..console import print_table, result
from .core import load_report


def print_summary(artifact: Artifact, *, per_class: bool = True) -> None:
    """Print the split's headline numbers (and per-class counts) on stdout."""
    report = load_report(artifact)
    sizes, dd, cov = report["sizes"], report["dedupe"], report["coverage"]
    rows: list[tuple[str, object]] = [
        ("rows read", report["input"]["rows"]),
        ("exact duplicate rows" + ("" if dd["enabled"] else " (kept)"), dd["exact_duplicate_rows"]),
        ("conflicting-label groups" + (f" ({dd['policy']})" if dd["enabled"] else " (kept)"), len(dd["conflicts"])),
        ("rows dropped", len(dd["dropped"])),
        ("train rows / sentences", f"{sizes['train']} / {sizes['sentences']['train']}"),
        ("valid rows / sentences", f"{sizes['valid']} / {sizes['sentences']['valid']}"),
        ("valid fraction", sizes["valid_fraction"]),
        ("classes in train / valid / all", f"{cov['train_classes']} / {cov['valid_classes']} / {cov['classes']}"),
        ("sentences on both sides", report["leak_check"]["leaked_sentences"]),
    ]
    folds = report.get("folds")
    if folds:
        rows.append((f"fold sizes (k={folds['k']})", " ".join(str(n) for n in folds["sizes"])))
        rows.append(("fold classes missing", sum(len(v) for v in folds["missing"].values())))
        rows.append(("sentences in two folds", report["leak_check"]["folds_leaked_sentences"]))
    print_table(f"Split {artifact.id}", ["", "value"], rows)
    if per_class:
        counts = report["class_counts"]
        print_table(
            "Rows per class",
            ["label", "train", "valid", "valid %"],
            [
                (label, n, counts["valid"][label], f"{100 * counts['valid'][label] / max(1, n + counts['valid'][label]):.1f}")
                for label, n in counts["train"].items()
            ],
        )
    like = report.get("like")
    if like:
        print_like(like)
    if cov["missing_in_valid"]:
        missing = ", ".join(f"{m['label']} ({m['sentences']} sentence{'' if m['sentences'] == 1 else 's'})" for m in cov["missing_in_valid"])
        result(f"[yellow]Not in valid:[/yellow] {missing}")
    result(f"Wrote [bold]{artifact.path}[/bold]")


def print_like(like: dict) -> None:
    """The test-like split's closeness to the test set, next to the plain split's."""
    tl, plain, test = like["test_like"], like["plain"], like["test"]

    def auc(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f}"

    rows: list[tuple[str, object, object, object]] = [
        ("AUC vs test (0.5: alike)", auc(tl["auc_vs_test"]), auc(plain["auc_vs_test"]), f"train: {auc(like['train_vs_test']['auc'])}"),
        ("mean P(test) of valid rows", tl["mean_test_score"], plain["mean_test_score"], ""),
        ("source TVD to test", tl["source_tvd"], plain["source_tvd"], 0.0),
        ("type-pair TVD to test", tl["type_pair_tvd"], plain["type_pair_tvd"], 0.0),
    ]
    for source in sorted(test["source_shares"], key=lambda k: -test["source_shares"][k]):
        rows.append((f"{source} share", _pct(tl["source_shares"].get(source, 0.0)), _pct(plain["source_shares"].get(source, 0.0)),
                     _pct(test["source_shares"][source])))
    print_table(f"Validation vs test ({like['seconds']:.0f} s)", ["", "test-like valid", "plain valid", "test"], rows)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"
