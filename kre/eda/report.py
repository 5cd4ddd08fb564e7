"""The EDA report: `report.md` in the artifact, and summary tables on the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..console import plural
from .stats import PERCENTILES, TOKEN_LIMITS

MAX_ROWS_MD = 30
MAX_ROWS_TERMINAL = 15


def _pct(part: int | float, whole: int | float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _count(f: dict[str, Any], key: str, name: str) -> str:
    n = f[key].get(name, 0)
    return f"{n} ({_pct(n, f['rows'])})"


def _float(v: float) -> str:
    return f"{v:.1f}" if abs(v) >= 1000 else f"{v:.4g}"


def _md_table(columns: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(v: Any) -> str:
        text = "-" if v is None else (_float(v) if isinstance(v, float) else str(v))
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _dist_row(name: str, d: dict[str, Any]) -> list[Any]:
    return [name, d["count"], d["mean"], d["min"], *(d[f"p{p}"] for p in PERCENTILES), d["max"]]


DIST_COLUMNS = ["", "n", "mean", "min", *(f"p{p}" for p in PERCENTILES), "max"]


def summary_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the per-file summary table (terminal and report)."""
    columns = ["file", "rows read", "valid", "problems", "labeled", "sentences", "multi-pair sent.", "dup rows", "conflicts", "chars p50/p95"]
    tokens = data.get("model") is not None
    if tokens:
        columns += ["tokens p50/p95/max", f">{TOKEN_LIMITS[0]}", f">{TOKEN_LIMITS[1]}"]
    rows = []
    for f in data["files"]:
        row = [
            f["name"], f["rows_read"], f["rows"], f["problems"], f["labeled_rows"], f["unique_sentences"],
            f["multi_pair"]["sentences"], f["duplicates"]["rows"], f["conflicts"]["groups"],
            f"{f['char_length']['p50']}/{f['char_length']['p95']}",
        ]
        if tokens:
            t = f["token_length"]
            row += [f"{t['p50']}/{t['p95']}/{t['max']}", t[f"over_{TOKEN_LIMITS[0]}"], t[f"over_{TOKEN_LIMITS[1]}"]]
        rows.append(row)
    return columns, rows


def label_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the label distribution table (labeled files only)."""
    files = [f for f in data["files"] if f["label_counts"]]
    columns = ["label"] + [c for f in files for c in (f["name"], "share")]
    rows = []
    for name in data["labels"]:
        row: list[Any] = [name]
        for f in files:
            n = f["label_counts"].get(name, 0)
            row += [n, _pct(n, f["labeled_rows"])]
        rows.append(row)
    rows.sort(key=lambda r: -(r[1] if len(r) > 1 else 0))
    return columns, rows


def problem_rows(data: dict[str, Any], limit: int | None = None) -> list[list[Any]]:
    """file, row, field, message of the problems found (first `limit`)."""
    rows = [[f["name"], p["row"], p["field"] or "-", p["message"] + (f" (id {p['id']})" if p["id"] else "")]
            for f in data["files"] for p in f["problem_list"]]
    return rows[:limit] if limit is not None else rows


def comparison_rows(data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    columns = ["reference -> other", "shared sentences", "other rows with a shared sentence", "identical inputs",
               "source TVD", "type-pair TVD", "chars KS", "chars mean (ref/other)"]
    tokens = data.get("model") is not None
    if tokens:
        columns += ["tokens KS", "tokens p95 (ref/other)"]
    rows = []
    for c in data["comparisons"]:
        ov, sh = c["overlap"], c["shift"]
        row = [
            f"{c['reference']} -> {c['other']}",
            f"{ov['sentences']} ({100 * ov['sentence_share']:.1f}%)",
            f"{ov['rows']} ({100 * ov['row_share']:.1f}%)",
            ov["identical_inputs"],
            sh["source_tvd"], sh["type_pair_tvd"], sh["char_length"]["ks"],
            "/".join(str(v) for v in sh["char_length"]["mean"]),
        ]
        if tokens and "token_length" in sh:
            row += [sh["token_length"]["ks"], "/".join(str(v) for v in sh["token_length"]["p95"])]
        rows.append(row)
    return columns, rows


def adversarial_rows(data: dict[str, Any]) -> list[list[Any]]:
    """One row per comparison: files, AUC (or why skipped), sentences, strongest n-gram each way, biggest source gap."""
    rows = []
    for c in data["comparisons"]:
        adv = c.get("adversarial")
        if adv is None:
            continue
        pair = f"{c['reference']} vs {c['other']}"
        if "auc" not in adv:
            rows.append([pair, "skipped", adv.get("skipped", ""), "", "", ""])
            continue
        src = adv["sources"][0] if adv["sources"] else None
        gap = f"{src['source']} {100 * src['share_a']:.1f}% -> {100 * src['share_b']:.1f}%" if src else "-"
        rows.append([pair, f"{adv['auc']:.3f}", f"{adv['sentences']['a']} / {adv['sentences']['b']}",
                     repr(adv["features"]["b"][0]["ngram"]) if adv["features"]["b"] else "-",
                     repr(adv["features"]["a"][0]["ngram"]) if adv["features"]["a"] else "-", gap])
    return rows


ADVERSARIAL_COLUMNS = ["files", "ROC AUC", "sentences", "top n-gram (other)", "top n-gram (reference)", "largest source gap"]


def adversarial_section(data: dict[str, Any], image: str) -> list[str]:
    """report.md lines on how well a classifier tells each compared file from the reference."""
    rows = adversarial_rows(data)
    if not rows:
        return []
    lines = ["## Telling the files apart (adversarial validation)", "",
             "A logistic regression on character n-grams (TF-IDF) learns to tell the reference file's sentences from the "
             "other file's; each distinct sentence is scored by a fold that did not see it. ROC AUC 0.5: the files look alike; "
             "1.0: fully separable. A high AUC means a random validation split will not behave like the test set: "
             "`kre split TRAIN --like TEST` picks the validation sentences that look most like it.", ""]
    lines += _md_table(ADVERSARIAL_COLUMNS, rows)
    for c in data["comparisons"]:
        adv = c.get("adversarial", {})
        if "auc" not in adv:
            continue
        ref, other = c["reference"], c["other"]
        lines += [f"`{ref}` vs `{other}`: AUC per fold {', '.join(f'{a:.3f}' for a in adv['fold_aucs'])} "
                  f"({adv['seconds']:.1f} s). Sources (mean score = average P({other}) of the rows):", ""]
        lines += _md_table(["source", f"{ref} rows", "share", f"{other} rows", "share", f"mean score ({ref})", f"mean score ({other})"],
                           [[s["source"], s["rows_a"], f"{100 * s['share_a']:.1f}%", s["rows_b"], f"{100 * s['share_b']:.1f}%",
                             s["mean_score_a"], s["mean_score_b"]] for s in adv["sources"]])
        for side, name in (("b", other), ("a", ref)):
            lines += [f"N-grams that point to `{name}` (share of sentences containing them):", ""]
            lines += _md_table(["n-gram", "weight", f"in {ref}", f"in {other}"],
                               [[repr(f["ngram"]), f["weight"], f"{100 * f['share_a']:.1f}%", f"{100 * f['share_b']:.1f}%"]
                                for f in adv["features"][side]])
    return lines + [image, ""]


def _transpose(columns: list[str], rows: list[list[Any]]) -> tuple[list[str], list[list[Any]]]:
    """One column per file (first cell of each row), one row per statistic: fits narrow terminals."""
    return ["", *(str(r[0]) for r in rows)], [[name, *(r[i] for r in rows)] for i, name in enumerate(columns) if i > 0]


def print_summary(data: dict[str, Any], artifact_id: str | None = None) -> None:
    """Print the EDA tables on the terminal (summary, labels, problems, overlap/shift)."""
    from ..console import print_table, result

    print_table("Files", *_transpose(*summary_rows(data)))
    columns, rows = label_rows(data)
    if len(columns) > 1:
        print_table("Label distribution", columns, rows)
    problems = problem_rows(data)
    total = data["totals"]["problems"]
    if total:
        shown = problems[:MAX_ROWS_TERMINAL]
        print_table(f"Rows that fail validation ({len(shown)} of {total} shown; all in stats.json/report.md)",
                    ["file", "row", "field", "message"], shown)
    if data["comparisons"]:
        print_table("Overlap and shift", *_transpose(*comparison_rows(data)))
        adv_rows = adversarial_rows(data)
        if adv_rows:
            print_table("Train vs test classifier (adversarial validation)", *_transpose(ADVERSARIAL_COLUMNS, adv_rows))
    t = data["totals"]
    line = (
        f"{plural(t['rows'] + t['problems'], 'row')} ({t['rows']} valid, {t['problems']} invalid), "
        f"{plural(t['duplicates'], 'exact duplicate row')}, {plural(t['conflicts'], 'conflicting input')}"
    )
    if "overlap_sentences" in t:
        line += f", {plural(t['overlap_sentences'], 'shared sentence')}"
    result(line + (f" -> {artifact_id}" if artifact_id else ""))


def write_report(path: Path, data: dict[str, Any], plots: list[str]) -> None:
    """Write report.md: every statistic in readable tables, with the plots embedded."""
    from ..fileio import atomic_write_text

    files = data["files"]
    t = data["totals"]

    def img(name: str, alt: str) -> str:
        return f"![{alt}]({name})" if name in plots else ""

    lines = ["# EDA report", ""]
    names = ", ".join("`" + f["path"] + "`" for f in files)
    lines.append(f"Files: {names}" + (f"; tokenizer: `{data['model']}`" if data["model"] else "") + ".")
    lines.append("")
    lines.append(
        f"**{plural(t['rows'], 'valid row')}, {plural(t['problems'], 'invalid row')}, {plural(t['duplicates'], 'exact duplicate row')}, "
        f"{plural(t['conflicts'], 'identical input')} with conflicting labels, "
        f"{plural(t['multi_pair_sentences'], 'sentence')} with several entity pairs"
        + (f", {plural(t['overlap_sentences'], 'sentence')} shared between files" if "overlap_sentences" in t else "") + ".**"
    )
    lines += ["", "## Files", ""]
    lines += _md_table(*summary_rows(data))

    lines += ["## Rows that fail validation", ""]
    if t["problems"]:
        lines.append("These rows were left out of every other statistic.")
        lines.append("")
        for f in files:
            if f["problems"]:
                lines.append(f"`{f['name']}` by field: " + ", ".join(f"{k}: {v}" for k, v in f["problems_by_field"].items()))
        lines.append("")
        rows = problem_rows(data, MAX_ROWS_MD * 10)
        lines += _md_table(["file", "row", "field", "message"], rows)
        if len(rows) < t["problems"]:
            lines += [f"({t['problems'] - len(rows)} more in stats.json.)", ""]
    else:
        lines += ["Every row is valid.", ""]
    warnings = [(f["name"], w) for f in files for w in f["warning_list"]]
    if warnings:
        lines += ["Accepted with a warning:", ""]
        lines += _md_table(["file", "row", "field", "message"], [[n, w["row"], w["field"], w["message"]] for n, w in warnings[:MAX_ROWS_MD]])
    lines += [img("problems.png", "problems"), ""]

    columns, rows = label_rows(data)
    if len(columns) > 1:
        lines += ["## Labels", ""]
        lines += _md_table(columns, rows)
        for f in files:
            if f["labels_missing"]:
                lines.append(f"`{f['name']}` has no rows of: {', '.join(f['labels_missing'])}.")
            if f["label_type_mismatch"]:
                lines.append(f"`{f['name']}`: {f['label_type_mismatch']} rows whose label prefix (per:/org:) does not match the subject type.")
        lines += ["", img("labels.png", "labels"), ""]

    lines += ["## Sources", ""]
    sources = sorted({s for f in files for s in f["source_counts"]})
    lines += _md_table(["source", *[f["name"] for f in files]], [[s, *[_count(f, "source_counts", s) for f in files]] for s in sources])
    lines += [img("sources.png", "sources"), ""]

    lines += ["## Entity types", ""]
    pairs = sorted({p for f in files for p in f["type_pair_counts"]})
    lines += _md_table(["subject-object", *[f["name"] for f in files]], [[p, *[_count(f, "type_pair_counts", p) for f in files]] for p in pairs])
    lines += [img("type_pairs.png", "type pairs"), ""]

    lines += ["## Sentence length", "", "Characters:", ""]
    lines += _md_table(DIST_COLUMNS, [_dist_row(f["name"], f["char_length"]) for f in files])
    lines += [img("lengths_chars.png", "lengths in characters"), ""]
    if data["model"]:
        lines += [f"Tokens (`{data['model']}`, special tokens included; `entity cut` = rows whose later entity ends after the "
                  "last token kept when truncating at that length from the right):", ""]
        cols = DIST_COLUMNS + [c for lim in TOKEN_LIMITS for c in (f">{lim}", f"entity cut @{lim}")]
        lines += _md_table(cols, [
            _dist_row(f["name"], f["token_length"])
            + [v for lim in TOKEN_LIMITS for v in (f"{f['token_length'][f'over_{lim}']} ({_pct(f['token_length'][f'over_{lim}'], f['rows'])})",
                                                   f["token_length"][f"entity_cut_at_{lim}"])]
            for f in files
        ])
        lines += [img("lengths_tokens.png", "lengths in tokens"), ""]

    lines += ["## Entity positions", "", "Start offsets (characters) and the number of characters between the two entities:", ""]
    rows = []
    for f in files:
        ep = f["entity_positions"]
        rows += [_dist_row(f"{f['name']} subject start", ep["subject_start"]),
                 _dist_row(f"{f['name']} object start", ep["object_start"]),
                 _dist_row(f"{f['name']} gap", ep["distance"])]
    lines += _md_table(DIST_COLUMNS, rows)
    for f in files:
        ep = f["entity_positions"]
        lines.append(f"`{f['name']}`: subject before object in {ep['subject_first']} rows ({_pct(ep['subject_first'], f['rows'])}); "
                     f"overlapping entity spans in {ep['overlapping']} rows.")
    lines += ["", img("entity_positions.png", "entity positions"), ""]

    lines += ["## Duplicates, conflicts and shared sentences", ""]
    lines += _md_table(
        ["file", "exact duplicate rows (groups)", "conflicting inputs (rows)", "sentences", "multi-pair sentences (rows)", "max pairs", "pairs per sentence"],
        [[f["name"], f"{f['duplicates']['rows']} ({f['duplicates']['groups']})", f"{f['conflicts']['groups']} ({f['conflicts']['rows']})",
          f["unique_sentences"], f"{f['multi_pair']['sentences']} ({f['multi_pair']['rows']})", f["multi_pair"]["max_pairs"],
          ", ".join(f"{k}: {v}" for k, v in f["multi_pair"]["group_sizes"].items())] for f in files],
    )
    lines.append("Exact duplicate rows = rows beyond the first with the same sentence, entities and label. "
                 "Conflicting inputs = the same sentence, subject and object with more than one label.")
    lines.append("")
    for f in files:
        if f["conflicts"]["examples"]:
            lines += [f"Conflicting labels in `{f['name']}` (first {min(len(f['conflicts']['examples']), MAX_ROWS_MD)}):", ""]
            lines += _md_table(["ids", "labels", "subject", "object", "sentence"],
                               [[", ".join(c["ids"]), ", ".join(c["labels"]), c["subject"], c["object"], c["sentence"]]
                                for c in f["conflicts"]["examples"][:MAX_ROWS_MD]])
        if f["duplicates"]["examples"]:
            lines += [f"Exact duplicates in `{f['name']}` (first {min(len(f['duplicates']['examples']), MAX_ROWS_MD)}):", ""]
            lines += _md_table(["ids", "label", "subject", "object", "sentence"],
                               [[", ".join(d["ids"]), d["label"], d["subject"], d["object"], d["sentence"]]
                                for d in f["duplicates"]["examples"][:MAX_ROWS_MD]])
    lines += [img("duplicates.png", "duplicates"), ""]

    if data["comparisons"]:
        lines += ["## Overlap and distribution shift", "",
                  "Each file is compared with the reference (the first labeled file). TVD = total variation distance of the shares "
                  "(0 same, 1 disjoint); KS = two-sample Kolmogorov-Smirnov statistic of the lengths.", ""]
        lines += _md_table(*comparison_rows(data))
        for c in data["comparisons"]:
            sh = c["shift"]
            lines += [f"`{c['reference']}` vs `{c['other']}`, characters:", ""]
            lines += _md_table(["", "mean", *(f"p{p}" for p in PERCENTILES), "max"],
                               [[name, *(sh["char_length"][k][j] for k in ("mean", *(f"p{p}" for p in PERCENTILES), "max"))]
                                for j, name in enumerate((c["reference"], c["other"]))])
            lines += ["Source shares:", ""]
            lines += _md_table(["source", c["reference"], c["other"]], [[k, *v] for k, v in sh["source_shares"].items()])
            lines += ["Type-pair shares:", ""]
            lines += _md_table(["subject-object", c["reference"], c["other"]], [[k, *v] for k, v in sh["type_pair_shares"].items()])
        lines += [img("shift.png", "shift"), ""]
        lines += adversarial_section(data, img("adversarial.png", "adversarial validation"))

    lines += ["## Files in this artifact", "", "`stats.json` (every number above), `report.md`, " + ", ".join(f"`{p}`" for p in plots) + ".", ""]
    atomic_write_text(path, "\n".join(lines))
