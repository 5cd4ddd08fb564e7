"""Render an error analysis as one self-contained HTML page (inline CSS) and as Markdown.

Every piece of data text is escaped (HTML: `html.escape`; Markdown: backslash escapes),
so a sentence holding `<script>` or `|` shows as text and never breaks the page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from ..data import Example
from .analysis import Confusion, ErrorAnalysis
from .source import Predictions

TOP_COSTS = 15

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI','Noto Sans KR',sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.summary span{display:inline-block;margin-right:1.5rem;font-size:1.05rem}
mark.subj{background:#cfe3ff;border-bottom:2px solid #2b6cb0;padding:0 .1em}
mark.obj{background:#ffe0b3;border-bottom:2px solid #c05621;padding:0 .1em}
mark.both{background:#e9d8fd;padding:0 .1em}
ol.ex li{margin:.35rem 0}.meta{color:#666;font-size:.85rem}
.bar{display:inline-block;height:.7rem;background:#e53e3e;vertical-align:middle}
"""


def segments(ex: Example) -> list[tuple[str, str | None]]:
    """The sentence cut into plain text and entity spans ('subj', 'obj', or 'both' when they overlap)."""
    s = ex.sentence
    spans = sorted([(ex.subject.start, ex.subject.end, "subj"), (ex.object.start, ex.object.end, "obj")])
    (a0, a1, ka), (b0, b1, kb) = spans
    if b0 <= a1:  # overlapping entities: one highlighted span
        lo, hi = a0, max(a1, b1)
        return [(s[:lo], None), (s[lo : hi + 1], "both"), (s[hi + 1 :], None)]
    return [(s[:a0], None), (s[a0 : a1 + 1], ka), (s[a1 + 1 : b0], None), (s[b0 : b1 + 1], kb), (s[b1 + 1 :], None)]


def sentence_html(ex: Example) -> str:
    out = []
    for text, kind in segments(ex):
        if kind is None:
            out.append(html.escape(text))
        else:
            title = {"subj": f"subject {ex.subject.type}", "obj": f"object {ex.object.type}", "both": "subject and object"}[kind]
            out.append(f'<mark class="{kind}" title="{html.escape(title)}">{html.escape(text)}</mark>')
    return "".join(out)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+\-!|~])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown syntax characters (and keep a row on one line)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def sentence_md(ex: Example) -> str:
    wrap = {"subj": ("**「", "」**"), "obj": ("**『", "』**"), "both": ("**「『", "』」**")}
    out = []
    for text, kind in segments(ex):
        out.append(md_escape(text) if kind is None else f"{wrap[kind][0]}{md_escape(text)}{wrap[kind][1]}")
    return "".join(out)


def _f(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _anchor(c: Confusion) -> str:
    return "c-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{c.gold}--{c.pred}").strip("-")


def _example_line(preds: Predictions, i: int) -> tuple[Example, float, float]:
    return preds.examples[i], float(preds.probs[i, preds.gold[i]]), float(preds.probs[i, preds.pred[i]])


def _costliest(analysis: ErrorAnalysis) -> list[Confusion]:
    return sorted(analysis.confusions, key=lambda c: (-c.f1_cost, -c.count))[:TOP_COSTS]


def _html_table(columns: list[str], rows: list[list[Any]], left: int = 1) -> str:
    head = "".join(f'<th class="l">{html.escape(c)}</th>' if i < left else f"<th>{html.escape(c)}</th>" for i, c in enumerate(columns))
    body = []
    for row in rows:
        cells = "".join(f'<td class="l">{v}</td>' if i < left else f"<td>{v}</td>" for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _group_rows(groups: list[dict[str, Any]], escape: Any) -> list[list[Any]]:
    return [[escape(g["group"]), g["n"], g["errors"], _f(g["micro_f1"]), _f(g["accuracy"])] for g in groups]


def _class_rows(analysis: ErrorAnalysis, escape: Any) -> list[list[Any]]:
    rows = sorted(analysis.per_class.items(), key=lambda kv: (-kv[1]["support"], kv[0]))
    return [[escape(name), _f(s["precision"] * 100), _f(s["recall"] * 100), _f(s["f1"] * 100), s["support"]] for name, s in rows]


def _filters_text(analysis: ErrorAnalysis) -> str:
    f = analysis.filters
    parts = [f"min count {f['min_count']}", f"{f['max_examples']} examples per confusion"]
    if f["labels"]:
        parts.insert(0, "labels " + ", ".join(f["labels"]))
    shown = len(analysis.confusions)
    return f"{shown} of {analysis.total_confusions} confusions shown ({'; '.join(parts)})"


def render_html(analysis: ErrorAnalysis, preds: Predictions, title: str) -> str:
    """The whole report as one HTML document with inline CSS and no external assets."""
    e = html.escape
    max_examples = analysis.filters["max_examples"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="ko"><head><meta charset="utf-8">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">predictions: {e(str(preds.probs_path))} · sentences: {e(preds.data_ref)}</p>',
        '<p class="summary">'
        f"<span>rows <b>{analysis.n}</b></span><span>mistakes <b>{analysis.errors}</b></span>"
        f"<span>micro F1 <b>{_f(analysis.micro_f1)}</b></span><span>AUPRC <b>{_f(analysis.auprc)}</b></span>"
        f"<span>accuracy <b>{_f(analysis.accuracy)}</b></span></p>",
        f'<p class="meta">{e(_filters_text(analysis))}. Legend: <mark class="subj">subject</mark> '
        '<mark class="obj">object</mark>. F1 cost = micro F1 points gained if exactly those rows were right.</p>',
        "<h2>Costliest confusions</h2>",
    ]
    top = _costliest(analysis)
    scale = max((c.f1_cost for c in top), default=0) or 1.0
    parts.append(_html_table(
        ["gold", "predicted", "count", "F1 cost", ""],
        [[e(c.gold), f'<a href="#{_anchor(c)}">{e(c.pred)}</a>', c.count, _f(c.f1_cost, 3),
          f'<span class="bar" style="width:{max(1, int(120 * c.f1_cost / scale))}px"></span>'] for c in top],
        left=2,
    ) if top else "<p>No mistakes.</p>")
    parts.append("<h2>Per class</h2>")
    parts.append(_html_table(["label", "precision", "recall", "F1", "support"], _class_rows(analysis, e)))
    parts.append("<h2>By source</h2>")
    parts.append(_html_table(["source", "rows", "mistakes", "micro F1", "accuracy"], _group_rows(analysis.by_source, e)))
    parts.append("<h2>By entity-type pair (subject-object)</h2>")
    parts.append(_html_table(["types", "rows", "mistakes", "micro F1", "accuracy"], _group_rows(analysis.by_type_pair, e)))
    parts.append("<h2>Mistakes by (gold, predicted), most frequent first</h2>")
    for c in analysis.confusions:
        parts.append(
            f'<h3 id="{_anchor(c)}">gold {e(c.gold)} → predicted {e(c.pred)} '
            f'<span class="meta">{c.count} rows · F1 cost {_f(c.f1_cost, 3)}</span></h3><ol class="ex">'
        )
        for i in c.rows[:max_examples]:
            ex, p_gold, p_pred = _example_line(preds, i)
            parts.append(
                f"<li>{sentence_html(ex)}<br><span class=\"meta\">id {e(ex.id)} · subject {e(ex.subject.word)} ({e(ex.subject.type)}) · "
                f"object {e(ex.object.word)} ({e(ex.object.type)}) · p(gold) {p_gold:.3f} · p(pred) {p_pred:.3f}"
                f"{' · ' + e(ex.source) if ex.source else ''}</span></li>"
            )
        if c.count > max_examples:
            parts.append(f'<li class="meta">… {c.count - max_examples} more</li>')
        parts.append("</ol>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md_table(columns: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(analysis: ErrorAnalysis, preds: Predictions, title: str) -> str:
    """The same report as Markdown (subject in 「」, object in 『』)."""
    m = md_escape
    max_examples = analysis.filters["max_examples"]
    out = [
        f"# {m(title)}",
        "",
        f"predictions: `{preds.probs_path}` · sentences: `{preds.data_ref}`",
        "",
        f"rows **{analysis.n}** · mistakes **{analysis.errors}** · micro F1 **{_f(analysis.micro_f1)}** · "
        f"AUPRC **{_f(analysis.auprc)}** · accuracy **{_f(analysis.accuracy)}**",
        "",
        f"{m(_filters_text(analysis))}. Subject in 「」, object in 『』. F1 cost = micro F1 points gained if exactly those rows were right.",
        "",
        "## Costliest confusions",
        "",
    ]
    top = _costliest(analysis)
    out.append(_md_table(["gold", "predicted", "count", "F1 cost"], [[m(c.gold), m(c.pred), c.count, _f(c.f1_cost, 3)] for c in top]) if top else "No mistakes.")
    out += ["", "## Per class", "", _md_table(["label", "precision", "recall", "F1", "support"], _class_rows(analysis, m))]
    out += ["", "## By source", "", _md_table(["source", "rows", "mistakes", "micro F1", "accuracy"], _group_rows(analysis.by_source, m))]
    out += ["", "## By entity-type pair (subject-object)", "",
            _md_table(["types", "rows", "mistakes", "micro F1", "accuracy"], _group_rows(analysis.by_type_pair, m))]
    out += ["", "## Mistakes by (gold, predicted), most frequent first"]
    for c in analysis.confusions:
        out += ["", f"### gold {m(c.gold)} → predicted {m(c.pred)} ({c.count} rows, F1 cost {_f(c.f1_cost, 3)})", ""]
        for k, i in enumerate(c.rows[:max_examples], start=1):
            ex, p_gold, p_pred = _example_line(preds, i)
            out.append(
                f"{k}. {sentence_md(ex)}  \n   id {m(ex.id)} · subject {m(ex.subject.word)} ({m(ex.subject.type)}) · "
                f"object {m(ex.object.word)} ({m(ex.object.type)}) · p(gold) {p_gold:.3f} · p(pred) {p_pred:.3f}"
            )
        if c.count > max_examples:
            out.append(f"\n… {c.count - max_examples} more")
    return "\n".join(out) + "\n"
