"""EDA plots as PNG files (matplotlib, no pyplot state, no display needed).

Labels in the plots are ASCII (label names, entity types, sources); a Korean-capable
font is used when one is installed so Hangul file names still render, and missing-glyph
warnings are silenced otherwise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .stats import TOKEN_LIMITS, EdaStats

KOREAN_FONTS = ("NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "Malgun Gothic", "AppleGothic", "UnDotum", "Baekmuk Gulim")
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C")
DPI = 100


def korean_fonts() -> list[str]:
    """The installed fonts that can draw Hangul (from KOREAN_FONTS)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return [name for name in KOREAN_FONTS if name in installed]


@contextmanager
def _style() -> Iterator[None]:
    """rc settings for our figures: a Korean font if one exists, no glyph warnings."""
    import matplotlib

    korean = korean_fonts()
    rc = {"font.family": [*korean[:1], "DejaVu Sans"], "font.size": 9, "axes.titlesize": 10, "axes.unicode_minus": False}
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Gg]lyph.*")
        warnings.filterwarnings("ignore", message=".*findfont.*")
        yield


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _save(fig: Any, out: Path, name: str) -> str:
    fig.savefig(out / name, dpi=DPI, metadata={"Software": None})
    return name


def _names(stats: EdaStats) -> list[str]:
    return [f["name"] for f in stats.data["files"]]


def plot_labels(stats: EdaStats, out: Path) -> str | None:
    """Horizontal bars: rows per label for each labeled file (share when several files)."""
    files = [f for f in stats.data["files"] if f["label_counts"]]
    if not files:
        return None
    order = [n for n in stats.data["labels"] if any(n in f["label_counts"] for f in files)]
    order.sort(key=lambda n: files[0]["label_counts"].get(n, 0))
    fig = _figure(9, max(3.0, 0.24 * len(order) + 1.2))
    ax = fig.add_subplot()
    y = np.arange(len(order))
    height = 0.8 / len(files)
    several = len(files) > 1
    for i, f in enumerate(files):
        total = sum(f["label_counts"].values())
        vals = [f["label_counts"].get(n, 0) / (total if several else 1) for n in order]
        bars = ax.barh(y + i * height - 0.4 + height / 2, vals, height=height, color=COLORS[i % len(COLORS)], label=f["name"])
        if not several:
            ax.bar_label(bars, labels=[str(int(v)) for v in vals], padding=2, fontsize=7)
    ax.set_yticks(y, order, fontsize=8)
    ax.set_xlabel("share of rows" if several else "rows")
    ax.set_title("Label distribution" + (" (log scale)" if not several else ""))
    if not several:
        ax.set_xscale("log")
    else:
        ax.legend(loc="lower right")
    ax.margins(x=0.12)
    return _save(fig, out, "labels.png")


def plot_sources(stats: EdaStats, out: Path) -> str:
    """Grouped bars: share of rows per source, one bar per file."""
    files = stats.data["files"]
    sources = sorted({s for f in files for s in f["source_counts"]})
    fig = _figure(max(5.0, 1.4 * len(sources) + 2), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(sources))
    width = 0.8 / max(len(files), 1)
    for i, f in enumerate(files):
        total = max(f["rows"], 1)
        vals = [f["source_counts"].get(s, 0) / total for s in sources]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width=width, color=COLORS[i % len(COLORS)], label=f["name"])
        ax.bar_label(bars, labels=[str(f["source_counts"].get(s, 0)) for s in sources], fontsize=7, padding=1)
    ax.set_xticks(x, sources)
    ax.set_ylabel("share of rows (count on bars)")
    ax.set_title("Source distribution")
    ax.legend()
    ax.margins(y=0.15)
    return _save(fig, out, "sources.png")


def plot_type_pairs(stats: EdaStats, out: Path) -> str:
    """Heatmaps: subject-object type pair vs label (labeled rows), and type-pair shares per file."""
    files = stats.data["files"]
    table: dict[str, dict[str, int]] = {}
    for f in files:
        for pair, counts in f["type_pair_label_counts"].items():
            row = table.setdefault(pair, {})
            for label, c in counts.items():
                row[label] = row.get(label, 0) + c
    pairs_all = sorted({p for f in files for p in f["type_pair_counts"]})
    fig = _figure(14 if table else 6, max(3.5, 0.35 * len(pairs_all) + 2.8))
    if table:
        grid = fig.add_gridspec(1, 2, width_ratios=[5, 1])
        ax = fig.add_subplot(grid[0])
        pairs = sorted(table)
        labels = [n for n in stats.data["labels"] if any(n in table[p] for p in pairs)]
        mat = np.array([[table[p].get(n, 0) for n in labels] for p in pairs], dtype=float)
        img = ax.imshow(np.log10(mat + 1), aspect="auto", cmap="viridis")
        for (r, c), v in np.ndenumerate(mat):
            if v:
                dark = np.log10(v + 1) < 0.6 * np.log10(mat.max() + 1)
                ax.text(c, r, str(int(v)), ha="center", va="center", fontsize=6, color="white" if dark else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(pairs)), pairs)
        ax.set_title("Subject-object type pair vs label (labeled rows; colour = log10(count+1))")
        fig.colorbar(img, ax=ax, shrink=0.8)
        ax2 = fig.add_subplot(grid[1])
    else:
        ax2 = fig.add_subplot()
    mat2 = np.array([[f["type_pair_counts"].get(p, 0) / max(f["rows"], 1) for f in files] for p in pairs_all])
    ax2.imshow(mat2, aspect="auto", cmap="Blues", vmin=0)
    for (r, c), v in np.ndenumerate(mat2):
        text = f"{100 * v:.1f}%" if v >= 0.001 or v == 0 else "<0.1%"
        ax2.text(c, r, text, ha="center", va="center", fontsize=7, color="black" if v < 0.6 * mat2.max() else "white")
    ax2.set_xticks(range(len(files)), [f["name"] for f in files], rotation=30, ha="right")
    ax2.set_yticks(range(len(pairs_all)), pairs_all)
    ax2.set_title("Type-pair share per file")
    return _save(fig, out, "type_pairs.png")


def _hist(ax: Any, arrays: list[np.ndarray], names: list[str], bins: np.ndarray, xlabel: str) -> None:
    for i, (arr, name) in enumerate(zip(arrays, names)):
        if arr.size:
            ax.hist(arr, bins=bins, density=True, histtype="step", linewidth=1.4, color=COLORS[i % len(COLORS)], label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=7)


def _bins(arrays: list[np.ndarray], n: int = 60, clip: float = 99.5) -> np.ndarray:
    joined = np.concatenate([a for a in arrays if a.size] or [np.zeros(1)])
    hi = max(float(np.percentile(joined, clip)), 1.0)
    return np.linspace(0, hi, n + 1)


def plot_char_lengths(stats: EdaStats, out: Path) -> str:
    """Histogram of sentence length in characters per file, with p50/p95 marks."""
    arrays = [a.char_len for a in stats.arrays]
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    _hist(ax, arrays, _names(stats), _bins(arrays), "sentence length (characters; top 0.5% not shown)")
    for i, f in enumerate(stats.data["files"]):
        for key, style in (("p50", ":"), ("p95", "--")):
            if f["char_length"][key] is not None:
                ax.axvline(f["char_length"][key], color=COLORS[i % len(COLORS)], linestyle=style, linewidth=0.8)
    ax.set_title("Sentence length in characters (dotted: median, dashed: p95)")
    return _save(fig, out, "lengths_chars.png")


def plot_token_lengths(stats: EdaStats, out: Path) -> str | None:
    """Histogram of sentence length in tokens per file, with the 128/256 limits and counts above them."""
    if any(a.tok_len is None for a in stats.arrays):
        return None
    arrays = [a.tok_len for a in stats.arrays if a.tok_len is not None]
    fig = _figure(7, 3.6)
    ax = fig.add_subplot()
    joined = np.concatenate([a for a in arrays if a.size] or [np.zeros(1)])
    hi = max(float(joined.max()) + 1, max(TOKEN_LIMITS) + 8)
    ax.set_yscale("log")
    _hist(ax, arrays, _names(stats), np.linspace(0, hi, 80), "tokens per sentence (special tokens included)")
    ax.set_xlim(0, hi * 1.2)
    for limit in TOKEN_LIMITS:
        ax.axvline(limit, color="black", linestyle="--", linewidth=0.8)
        above = sum(f["token_length"][f"over_{limit}"] for f in stats.data["files"])
        ax.text(limit, 0.95, f" >{limit}: {above} rows", fontsize=8, va="top", transform=ax.get_xaxis_transform())
    ax.set_title(f"Sentence length in tokens ({Path(str(stats.data['model'])).name})")
    return _save(fig, out, "lengths_tokens.png")


def plot_entity_positions(stats: EdaStats, out: Path) -> str:
    """Histograms of subject and object start offsets and of the gap between the two entities."""
    names = _names(stats)
    fig = _figure(12, 3.4)
    parts = (
        ("Subject start", [a.subj_start for a in stats.arrays]),
        ("Object start", [a.obj_start for a in stats.arrays]),
        ("Gap between the two entities", [a.distance for a in stats.arrays]),
    )
    for k, (title, arrays) in enumerate(parts):
        ax = fig.add_subplot(1, 3, k + 1)
        _hist(ax, arrays, names, _bins(arrays, 50), "characters (top 0.5% not shown)")
        ax.set_title(title)
    return _save(fig, out, "entity_positions.png")


def plot_duplicates(stats: EdaStats, out: Path) -> str:
    """Entity pairs per sentence, and duplicate / conflict / multi-pair / overlap counts per file."""
    files = stats.data["files"]
    fig = _figure(12, 3.8)
    ax = fig.add_subplot(1, 2, 1)
    sizes = sorted({int(s) for f in files for s in f["multi_pair"]["group_sizes"]})
    x = np.arange(len(sizes))
    width = 0.8 / max(len(files), 1)
    for i, f in enumerate(files):
        vals = [f["multi_pair"]["group_sizes"].get(str(s), 0) for s in sizes]
        bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width=width, color=COLORS[i % len(COLORS)], label=f["name"])
        ax.bar_label(bars, fontsize=7, padding=1)
    ax.set_xticks(x, [str(s) for s in sizes])
    ax.set_yscale("log")
    ax.set_xlabel("distinct entity pairs in the sentence")
    ax.set_ylabel("sentences (log)")
    ax.set_title("Same sentence with several entity pairs")
    ax.legend(fontsize=7)
    ax2 = fig.add_subplot(1, 2, 2)
    overlap = {c["other_file"]: c["overlap"]["rows"] for c in stats.data["comparisons"]}
    kinds = ("exact duplicate rows", "conflicting inputs", "multi-pair sentences", "rows whose sentence\nis in the reference")
    x2 = np.arange(len(kinds))
    for i, f in enumerate(files):
        vals = [f["duplicates"]["rows"], f["conflicts"]["groups"], f["multi_pair"]["sentences"], overlap.get(i, 0)]
        bars = ax2.bar(x2 + i * width - 0.4 + width / 2, vals, width=width, color=COLORS[i % len(COLORS)], label=f["name"])
        ax2.bar_label(bars, fontsize=7, padding=1)
    ax2.set_xticks(x2, kinds, fontsize=8)
    ax2.set_title("Duplicates, conflicts and overlap")
    ax2.margins(y=0.15)
    ax2.legend(fontsize=7)
    return _save(fig, out, "duplicates.png")


def plot_problems(stats: EdaStats, out: Path) -> str:
    """Invalid rows per field and file (or a note that every row is valid)."""
    files = stats.data["files"]
    fields = sorted({k for f in files for k in f["problems_by_field"]})
    fig = _figure(7, 3.2)
    ax = fig.add_subplot()
    if not fields:
        ax.text(0.5, 0.5, "No invalid rows in " + ", ".join(_names(stats)), ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        x = np.arange(len(fields))
        width = 0.8 / len(files)
        for i, f in enumerate(files):
            vals = [f["problems_by_field"].get(k, 0) for k in fields]
            bars = ax.bar(x + i * width - 0.4 + width / 2, vals, width=width, color=COLORS[i % len(COLORS)], label=f["name"])
            ax.bar_label(bars, fontsize=7, padding=1)
        ax.set_xticks(x, fields)
        ax.set_ylabel("invalid rows")
        ax.legend(fontsize=7)
        ax.margins(y=0.15)
    ax.set_title("Rows that fail validation (by field)")
    return _save(fig, out, "problems.png")


def plot_shift(stats: EdaStats, out: Path) -> str | None:
    """Per comparison: source shares, type-pair shares and length CDFs of reference vs other file."""
    comparisons = stats.data["comparisons"]
    if not comparisons:
        return None
    fig = _figure(15, 3.8 * len(comparisons))
    for row, c in enumerate(comparisons):
        ref_i, oth_i = c["reference_file"], c["other_file"]
        for col, (key, title) in enumerate((("source_shares", f"Source shares (TVD {c['shift']['source_tvd']:.3f})"),
                                            ("type_pair_shares", f"Type-pair shares (TVD {c['shift']['type_pair_tvd']:.3f})"))):
            ax = fig.add_subplot(len(comparisons), 3, row * 3 + col + 1)
            cats = list(c["shift"][key])
            vals = np.array([c["shift"][key][k] for k in cats]).reshape(-1, 2)
            x = np.arange(len(cats))
            ax.bar(x - 0.2, vals[:, 0], width=0.4, color=COLORS[0], label=c["reference"])
            ax.bar(x + 0.2, vals[:, 1], width=0.4, color=COLORS[1], label=c["other"])
            ax.set_xticks(x, cats, rotation=45 if len(cats) > 4 else 0, ha="right" if len(cats) > 4 else "center", fontsize=7)
            ax.set_ylabel("share of rows")
            ax.set_title(title)
            ax.legend(fontsize=7)
        ax = fig.add_subplot(len(comparisons), 3, row * 3 + 3)
        for j, (i, name) in enumerate(((ref_i, c["reference"]), (oth_i, c["other"]))):
            arr = np.sort(stats.arrays[i].char_len)
            if arr.size:
                ax.step(arr, np.arange(1, arr.size + 1) / arr.size, where="post", color=COLORS[j], label=name)
        ax.set_xlabel("sentence length (characters)")
        ax.set_ylabel("cumulative share")
        ks = c["shift"]["char_length"]["ks"]
        ax.set_title(f"Length CDF (KS {ks:.3f})" if ks is not None else "Length CDF")
        ax.legend(fontsize=7)
    return _save(fig, out, "shift.png")


def plot_adversarial(stats: EdaStats, out: Path) -> str | None:
    """Per comparison: ROC curve of the train-vs-test classifier, its score histograms, sources and top n-grams."""
    comparisons = [c for c in stats.data["comparisons"] if "auc" in c.get("adversarial", {})]
    if not comparisons:
        return None
    cols = 4 if korean_fonts() else 3
    fig = _figure(5 * cols, 4.4 * len(comparisons))
    for row, c in enumerate(comparisons):
        adv = c["adversarial"]
        ref, other = c["reference"], c["other"]
        ax = fig.add_subplot(len(comparisons), cols, row * cols + 1)
        ax.plot(adv["roc"]["fpr"], adv["roc"]["tpr"], color=COLORS[1])
        ax.plot([0, 1], [0, 1], color=COLORS[7], linestyle="--", linewidth=0.8)
        ax.set_xlabel(f"false positive rate ({ref} called {other})")
        ax.set_ylabel(f"true positive rate ({other})")
        ax.set_title(f"{ref} vs {other}: out-of-fold ROC AUC {adv['auc']:.3f}")
        ax = fig.add_subplot(len(comparisons), cols, row * cols + 2)
        hist = adv["score_histogram"]
        edges = np.asarray(hist["edges"])
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        ax.bar(centers, hist["a"], width=width, alpha=0.6, color=COLORS[0], label=ref)
        ax.bar(centers, hist["b"], width=width, alpha=0.6, color=COLORS[1], label=other)
        ax.set_xlabel(f"P({other}) out of fold")
        ax.set_ylabel("share of rows")
        ax.set_title("Classifier scores (high = looks like " + other + ")")
        ax.legend(fontsize=7)
        ax = fig.add_subplot(len(comparisons), cols, row * cols + 3)
        sources = adv["sources"]
        x = np.arange(len(sources))
        ax.bar(x - 0.2, [r["share_a"] for r in sources], width=0.4, color=COLORS[0], label=ref)
        ax.bar(x + 0.2, [r["share_b"] for r in sources], width=0.4, color=COLORS[1], label=other)
        ax.set_xticks(x, [f"{r['source']}\nscore {r['mean_score_a']}/{r['mean_score_b']}" for r in sources], fontsize=7)
        ax.set_ylabel("share of rows")
        ax.set_title("Sources (mean score per side under the name)")
        ax.legend(fontsize=7)
        if cols == 4:  # Hangul n-grams only draw with a Korean font; report.md always lists them
            ax = fig.add_subplot(len(comparisons), cols, row * cols + 4)
            feats = adv["features"]["b"][:10][::-1] + adv["features"]["a"][:10]
            weights = [f["weight"] for f in feats]
            ax.barh(range(len(feats)), weights, color=[COLORS[1] if w > 0 else COLORS[0] for w in weights])
            ax.set_yticks(range(len(feats)), [repr(f["ngram"]) for f in feats], fontsize=7)
            ax.axvline(0, color=COLORS[7], linewidth=0.8)
            ax.set_xlabel(f"weight (> 0: {other}, < 0: {ref})")
            ax.set_title("Character n-grams that separate the files")
    return _save(fig, out, "adversarial.png")


PLOTS: tuple[Callable[[EdaStats, Path], str | None], ...] = (
    plot_labels,
    plot_sources,
    plot_type_pairs,
    plot_char_lengths,
    plot_token_lengths,
    plot_entity_positions,
    plot_duplicates,
    plot_problems,
    plot_shift,
    plot_adversarial,
)


def make_plots(stats: EdaStats, out: Path, advance: Callable[[], None] | None = None) -> list[str]:
    """Write every plot that applies to these statistics into `out`; returns the file names."""
    written = []
    # With no valid row at all, only the validation plot has anything to show.
    plots = PLOTS if stats.data["totals"]["rows"] else (plot_problems,)
    with _style():
        for plot in plots:
            name = plot(stats, out)
            if name:
                written.append(name)
            if advance:
                advance()
    return written
