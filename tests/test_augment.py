"""Tests for `kre augment`: translators, cache, back-translation, entity swap, AEDA, undersampling, the command."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import synth_examples
from kre.artifacts import ArtifactStore
from kre.augment import aeda as aeda_mod
from kre.augment import backtranslate as bt
from kre.augment import swap as swap_mod
from kre.augment import undersample as us_mod
from kre.augment.cache import CachedTranslator, TranslationCache, default_cache_path
from kre.augment.common import MethodStats, row_problem
from kre.augment.embedders import SentenceTransformerEmbedder, cosine_pairs
from kre.augment.config import AugmentConfig
from kre.augment.pipeline import run_augment
from kre.augment.translators import Backoff, DeepTranslator, TranslationError
from kre.data import Entity, Example, read_dataset, write_csv
from kre.errors import KreError
from kre.labels import DEFAULT_LABELS


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's translation cache."""
    path = tmp_path / "cache" / "translations.sqlite"
    monkeypatch.setenv("KRE_CACHE", str(path))
    return path


# -- fakes ----------------------------------------------------------------------------------------------------------


class ReverseTranslator:
    """ko -> xx reverses the word order; xx -> ko keeps it (so a round trip reverses the words)."""

    name = "fake-reverse"

    def __init__(self) -> None:
        self.calls = 0
        self.texts = 0

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        self.calls += 1
        self.texts += len(texts)
        if source == "ko":
            return [" ".join(reversed(t.split())) for t in texts]
        return list(texts)


class LosingTranslator(ReverseTranslator):
    """Like ReverseTranslator but loses the object marker when the text length is even, and doubles
    the subject marker when it is divisible by 5 (and odd)."""

    name = "fake-losing"

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        out = super().translate(texts, source, target)
        if source != "ko":
            return out
        fixed = []
        for text, t in zip(texts, out):
            if len(text) % 2 == 0:
                t = t.replace("ZQO", "")
            elif len(text) % 5 == 0:
                t = t + " ZQS"
            fixed.append(t)
        return fixed


class FakeEmbedder:
    """Vectors [1, 0] normally and [0, 1] for texts containing 'LOW' (cosine 1 or 0 to the original)."""

    name = "fake-embedder"

    def encode(self, texts: list[str]):
        import numpy as np

        return np.array([[0.0, 1.0] if "LOW" in t else [1.0, 0.0] for t in texts])


class LowTranslator(ReverseTranslator):
    """Appends 'LOW' to round trips of texts whose length is divisible by 3."""

    name = "fake-low"

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        out = super().translate(texts, source, target)
        if source == "ko":
            out = [t + " LOW" if len(s) % 3 == 0 else t for s, t in zip(texts, out)]
        return out


class FakeClient:
    """Stands in for a deep-translator client: fails on a schedule, else reverses words."""

    def __init__(self, source: str, target: str, plan: dict) -> None:
        self.source, self.target, self.plan = source, target, plan

    def translate(self, text: str) -> str | None:
        self.plan["requests"] += 1
        n = self.plan["requests"]
        if n in self.plan.get("fail_at", ()):  # transient errors on given request numbers
            raise self.plan.get("error", ConnectionError)("boom")
        if self.plan.get("die_after") is not None and n > self.plan["die_after"]:
            raise ConnectionError("network is unreachable")
        if self.plan.get("answer") is not None:
            return self.plan["answer"]
        return " ".join(reversed(text.split())) if self.source == "ko" else text


def fake_deep(plan: dict, sleeps: list[float], max_tries: int = 3) -> DeepTranslator:
    plan.setdefault("requests", 0)
    return DeepTranslator(
        "google",
        max_tries=max_tries,
        timeout=None,
        min_interval=0,
        sleep=sleeps.append,
        factory=lambda s, t: FakeClient(s, t, plan),
    )  # fmt: skip


# -- artifact helpers -----------------------------------------------------------------------------------------------


def make_split(root: Path, n: int = 120, seed: int = 1, folds: bool = True, bad_train: bool = False) -> Path:
    """A splits artifact from synthetic rows: sentences never cross train/valid."""
    examples = synth_examples(n, seed=seed)
    valid = [e for i, e in enumerate(examples) if (i // 2) % 5 == 0]
    train = [e for i, e in enumerate(examples) if (i // 2) % 5 != 0]
    store = ArtifactStore(root)
    with store.create("splits", "test", params={"seed": 1, "valid_size": 0.2, "folds": 3 if folds else 0, "dedupe": True}) as b:
        write_csv(b.path / "train.csv", train)
        write_csv(b.path / "valid.csv", valid)
        if bad_train:
            text = (b.path / "train.csv").read_text(encoding="utf-8").splitlines()
            fields = next(csv.reader([text[3]]))
            fields[2] = fields[2].replace("'start_idx': ", "'start_idx': 9")
            import io

            buf = io.StringIO()
            csv.writer(buf, lineterminator="").writerow(fields)
            text[3] = buf.getvalue()
            (b.path / "train.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
        if folds:
            with open(b.path / "folds.csv", "w", encoding="utf-8", newline="") as fh:
                fh.write("id,fold\n" + "".join(f"{e.id},{(i // 2) % 3}\n" for i, e in enumerate(examples)))
    assert b.published is not None
    return b.published.path


def rows_by_method(path: Path) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {}
    for ex in read_dataset(path, strict=True).examples:
        out.setdefault(ex.extra.get("aug_method", ""), []).append(ex)
    return out


def assert_all_valid(path: Path) -> list[Example]:
    ds = read_dataset(path, strict=False)
    assert ds.problems == []
    for ex in ds.examples:
        assert row_problem(ex, DEFAULT_LABELS) is None
    assert len({e.id for e in ds.examples}) == len(ds.examples)
    return ds.examples


# -- protect / restore ------------------------------------------------------------------------------------------------


def _example(sentence: str, subj: str, obj: str, label: str = "per:origin") -> Example:
    s = sentence.index(subj)
    o = sentence.index(obj)
    return Example("x1", sentence, Entity(subj, s, s + len(subj) - 1, "PER"), Entity(obj, o, o + len(obj) - 1, "LOC"), label)


def test_protect_and_restore_survive_case_and_spacing() -> None:
    ex = _example("서울 출신의 이순신은 장군이다.", "이순신", "서울")
    marked = bt.protect(ex)
    assert marked == "ZQO 출신의 ZQS은 장군이다."
    sentence, subj, obj = bt.restore("  z q s 장군은 zqo에서 왔다. ", ex)  # translator spaced and lower-cased them
    assert sentence == "이순신 장군은 서울에서 왔다."
    assert subj.matches(sentence) and obj.matches(sentence)
    assert (subj.word, subj.type, obj.word, obj.type) == ("이순신", "PER", "서울", "LOC")
    assert bt.restore("ZQS 장군은 왔다.", ex) == "entity_lost"
    assert bt.restore("ZQS 장군은 ZQO, ZQO에서 왔다.", ex) == "entity_repeated"
    assert bt.restore("ZQSX ZQO", ex) == "entity_lost"  # part of a longer token is not the marker


# -- back-translation ---------------------------------------------------------------------------------------------------


def test_backtranslate_preserves_entities_and_offsets() -> None:
    parents = synth_examples(40, seed=2)
    stats = MethodStats()
    result = bt.backtranslate(parents, translator=ReverseTranslator(), embedder=None, min_similarity=0, stats=stats)
    assert result.rows_translated == 40
    by_id = {e.id: e for e in parents}
    assert len(result.examples) == 40 - stats.dropped["unchanged"]
    assert result.examples
    for new in result.examples:
        parent = by_id[new.extra["aug_parent"]]
        assert new.id == f"{parent.id}-backtranslate-1"
        assert new.subject.matches(new.sentence) and new.object.matches(new.sentence)
        assert (new.subject.word, new.subject.type) == (parent.subject.word, parent.subject.type)
        assert (new.object.word, new.object.type) == (parent.object.word, parent.object.type)
        assert new.label == parent.label
        assert sorted(new.sentence.split()) != sorted(bt.protect(parent).split()) or new.sentence != parent.sentence


def test_backtranslate_drops_rows_whose_markers_do_not_survive() -> None:
    parents = synth_examples(60, seed=4)
    stats = MethodStats()
    result = bt.backtranslate(parents, translator=LosingTranslator(), embedder=None, min_similarity=0, stats=stats)
    lengths = [len(bt.protect(p)) for p in parents]
    expected_lost = sum(1 for n in lengths if n % 2 == 0)
    expected_repeated = sum(1 for n in lengths if n % 2 == 1 and n % 5 == 0)
    assert expected_lost > 0 and expected_repeated > 0
    assert stats.dropped["entity_lost"] == expected_lost
    assert stats.dropped["entity_repeated"] == expected_repeated
    assert stats.tried == 60
    assert len(result.examples) + sum(stats.dropped.values()) == 60
    for new in result.examples:
        assert row_problem(new, DEFAULT_LABELS) is None


def test_similarity_filter_with_fake_embedder() -> None:
    parents = synth_examples(60, seed=5)
    stats = MethodStats()
    result = bt.backtranslate(parents, translator=LowTranslator(), embedder=FakeEmbedder(), min_similarity=0.9, stats=stats)
    low = sum(1 for p in parents if len(bt.protect(p)) % 3 == 0)
    assert 0 < low < 60
    assert stats.dropped["low_similarity"] == low
    assert len(result.examples) == 60 - low
    assert sorted(result.scores) == [0.0] * low + [1.0] * (60 - low)
    assert all("LOW" not in e.sentence for e in result.examples)


def test_sentence_transformer_embedder_on_tiny_model(tiny_model: Path) -> None:
    emb = SentenceTransformerEmbedder(tiny_model)
    sims = cosine_pairs(emb, ["이순신은 장군이다.", "세종은 왕이다."], ["이순신은 장군이다.", "1446년 3월"])
    assert sims[0] == pytest.approx(1.0, abs=1e-5)
    assert sims[1] < 1.0


def test_embedder_that_cannot_load_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KreError, match="cannot load embedder"):
        SentenceTransformerEmbedder(tmp_path / "missing-model").encode(["x"])


# -- translators: retry, back-off, honesty --------------------------------------------------------------------------------


def test_retries_transient_errors_with_exponential_backoff() -> None:
    from deep_translator.exceptions import TooManyRequests

    sleeps: list[float] = []
    plan = {"fail_at": (1, 2), "error": TooManyRequests}
    tr = fake_deep(plan, sleeps, max_tries=3)
    assert tr.translate(["가 나 다"], "ko", "en") == ["다 나 가"]
    assert plan["requests"] == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # base 1s doubled, with jitter


def test_gives_up_after_bounded_tries_and_reports_partial() -> None:
    sleeps: list[float] = []
    plan = {"die_after": 2}
    tr = fake_deep(plan, sleeps, max_tries=4)
    with pytest.raises(TranslationError) as info:
        tr.translate(["가 나", "다 라", "마 바", "사 아"], "ko", "en")
    assert info.value.transient
    assert info.value.partial == ["나 가", "라 다"]
    assert plan["requests"] == 2 + 4  # two answered, then exactly max_tries attempts for the third
    assert len(sleeps) == 3


def test_backoff_delays_grow_and_are_capped() -> None:
    import random

    b = Backoff(base=1.0, cap=8.0, rng=random.Random(0))
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (6, 8)]:
        assert ceiling / 2 <= b.delay(attempt) <= ceiling


@pytest.mark.parametrize("answer", ["", "   ", "MYMEMORY WARNING: YOU USED ALL AVAILABLE FREE TRANSLATIONS FOR TODAY"])
def test_empty_or_quota_answers_are_never_translations(answer: str) -> None:
    sleeps: list[float] = []
    plan = {"answer": answer}
    tr = fake_deep(plan, sleeps, max_tries=2)
    with pytest.raises(TranslationError) as info:
        tr.translate(["가 나"], "ko", "en")
    assert info.value.partial == []
    # A quota warning is a rate limit (retried, transient); an empty answer is not retried.
    assert info.value.transient == answer.startswith("MYMEMORY")
    assert plan["requests"] == (2 if answer.startswith("MYMEMORY") else 1)


def test_none_answer_is_a_failure() -> None:
    class NoneClient:
        def translate(self, text: str) -> None:
            return None

    tr = DeepTranslator("google", timeout=None, min_interval=0, sleep=lambda s: None, factory=lambda s, t: NoneClient())
    with pytest.raises(TranslationError, match="could not translate") as info:
        tr.translate(["가"], "ko", "en")
    assert not info.value.transient


@pytest.mark.parametrize("service", ["google", "mymemory"])
@pytest.mark.parametrize("failure", ["connection", "429"])
def test_real_adapter_fails_cleanly_when_offline_or_rate_limited(
    service: str, failure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real deep-translator classes, with `requests.get` failing like a lost network or a rate limit."""
    import requests

    calls: list[str] = []

    class Response:
        status_code = 429
        text = ""

    def fake_get(url: str, *args, **kwargs):
        calls.append(url)
        if failure == "connection":
            raise requests.exceptions.ConnectionError("Name or service not known")
        return Response()

    monkeypatch.setattr(requests, "get", fake_get)
    sleeps: list[float] = []
    tr = DeepTranslator(service, max_tries=3, timeout=10, min_interval=0, sleep=sleeps.append)
    with pytest.raises(TranslationError) as info:
        tr.translate(["안녕하세요"], "ko", "en")
    assert info.value.transient
    assert "unreachable after 3 tries" in info.value.message
    assert len(calls) == 3 and len(sleeps) == 2


def test_unknown_language_is_a_config_error() -> None:
    with pytest.raises(KreError, match="cannot translate"):
        DeepTranslator("google", timeout=None).translate(["x"], "ko", "not-a-language")


# -- cache -------------------------------------------------------------------------------------------------------------------


def test_default_cache_path_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KRE_CACHE", str(tmp_path))
    assert default_cache_path() == tmp_path / "translations.sqlite"
    monkeypatch.delenv("KRE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "kre" / "translations.sqlite"


def test_cached_translator_asks_only_once_and_keeps_partial_results(tmp_path: Path) -> None:
    inner = ReverseTranslator()
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        tr = CachedTranslator(inner, cache, batch_size=2)
        assert tr.translate(["가 나", "다 라", "가 나"], "ko", "en") == ["나 가", "라 다", "나 가"]
        assert inner.texts == 2
        assert tr.translate(["다 라", "가 나"], "ko", "en") == ["라 다", "나 가"]
        assert inner.texts == 2 and tr.hits == 2
    # A different process later: same answers from disk, no calls.
    inner2 = ReverseTranslator()
    with TranslationCache(tmp_path / "c.sqlite") as cache:
        assert CachedTranslator(inner2, cache).translate(["가 나"], "ko", "en") == ["나 가"]
    assert inner2.calls == 0

    sleeps: list[float] = []
    dying = fake_deep({"die_after": 3}, sleeps, max_tries=2)
    with TranslationCache(tmp_path / "d.sqlite") as cache:
        tr = CachedTranslator(dying, cache, batch_size=10)
        with pytest.raises(TranslationError):
            tr.translate([f"말 {i}" for i in range(6)], "ko", "en")
        assert len(cache) == 3  # committed before the failure
        assert cache.get_many("google", "ko", "en", ["말 0", "말 2", "말 3"]) == {"말 0": "0 말", "말 2": "2 말"}


# -- entity swap / aeda / undersample ------------------------------------------------------------------------------------------


def test_entity_swap_uses_same_label_role_and_type() -> None:
    rows = synth_examples(200, seed=6)
    pools = swap_mod.build_pools(rows)
    stats = MethodStats()
    new = swap_mod.entity_swap(rows, pools=pools, n_per_example=2, seed=3, stats=stats)
    assert new and stats.tried == 400
    assert len(new) + stats.dropped["no_candidate"] == 400
    by_id = {e.id: e for e in rows}
    for ex in new:
        parent = by_id[ex.extra["aug_parent"]]
        assert re.fullmatch(rf"{re.escape(parent.id)}-entity-swap-[12]", ex.id)
        assert row_problem(ex, DEFAULT_LABELS) is None
        changed = [r for r in ("subject", "object") if getattr(ex, r).word != getattr(parent, r).word]
        assert len(changed) == 1
        role = changed[0]
        other = "object" if role == "subject" else "subject"
        assert getattr(ex, other).word == getattr(parent, other).word
        assert getattr(ex, role).type == getattr(parent, role).type
        assert getattr(ex, role).word in pools[(parent.label, role, getattr(parent, role).type)]
        assert ex.label == parent.label
    again = swap_mod.entity_swap(rows, pools=pools, n_per_example=2, seed=3)
    assert [(e.id, e.sentence, e.subject, e.object) for e in again] == [(e.id, e.sentence, e.subject, e.object) for e in new]
    other_seed = swap_mod.entity_swap(rows, pools=pools, n_per_example=2, seed=4)
    assert [e.sentence for e in other_seed] != [e.sentence for e in new]


def test_entity_swap_recomputes_both_offsets() -> None:
    a = _example("서울 출신의 이순신은 장군이다.", "이순신", "서울")
    b = replace(_example("부산 출신의 세종대왕은 왕이다.", "세종대왕", "부산"), id="x2")
    pools = swap_mod.build_pools([a, b])
    new = swap_mod.entity_swap([a], pools=pools, role="subject", seed=0)
    assert new[0].sentence == "서울 출신의 세종대왕은 장군이다."
    new = swap_mod.entity_swap([a], pools=pools, role="object", seed=0)
    assert new[0].sentence == "부산 출신의 이순신은 장군이다."
    swapped_subject_first = replace(a, subject=a.object, object=a.subject)  # object after subject
    new = swap_mod.entity_swap([b], pools=swap_mod.build_pools([a, b, swapped_subject_first]), role="subject", seed=0)
    for ex in new:
        assert ex.subject.matches(ex.sentence) and ex.object.matches(ex.sentence)


def test_aeda_inserts_only_punctuation_outside_entities() -> None:
    rows = synth_examples(100, seed=7)
    stats = MethodStats()
    new = aeda_mod.aeda(rows, n_per_example=2, seed=1, stats=stats)
    assert len(new) + stats.dropped["duplicate"] == 200
    by_id = {e.id: e for e in rows}
    marks = set(aeda_mod.PUNCTUATION)
    for ex in new:
        parent = by_id[ex.extra["aug_parent"]]
        assert row_problem(ex, DEFAULT_LABELS) is None
        assert (ex.subject.word, ex.object.word) == (parent.subject.word, parent.object.word)
        inserted = [w for w in ex.sentence.split() if w in marks]
        assert inserted
        assert " ".join(w for w in ex.sentence.split() if w not in marks) == " ".join(parent.sentence.split())
    assert [e.sentence for e in aeda_mod.aeda(rows, n_per_example=2, seed=1)] == [e.sentence for e in new]
    assert [e.sentence for e in aeda_mod.aeda(rows, n_per_example=2, seed=2)] != [e.sentence for e in new]


def test_aeda_never_splits_a_multiword_entity() -> None:
    sentence = "그는 1970년 3월 1일 에 태어난 김구 이다"
    ex = _example(sentence, "김구", "1970년 3월 1일")
    ex = replace(ex, object=replace(ex.object, type="DAT"))
    starts = aeda_mod.word_starts(ex)
    assert sentence.index("3월") not in starts and sentence.index("1일") not in starts
    for new in aeda_mod.aeda([ex], n_per_example=5, seed=0, ratio=1.0):
        assert "1970년 3월 1일" in new.sentence and new.object.matches(new.sentence)


def test_undersample_caps_by_count_and_ratio() -> None:
    rows = synth_examples(300, seed=8)
    n_no = sum(1 for e in rows if e.label == "no_relation")
    rest = len(rows) - n_no
    assert n_no > 50
    stats = MethodStats()
    out = us_mod.undersample(rows, max_count=20, seed=1, stats=stats)
    assert Counter(e.label for e in out)["no_relation"] == 20
    assert [e for e in out if e.label != "no_relation"] == [e for e in rows if e.label != "no_relation"]
    assert stats.dropped["over_cap"] == n_no - 20
    out2 = us_mod.undersample(rows, max_ratio=0.25, seed=1)
    k = sum(1 for e in out2 if e.label == "no_relation")
    assert k / len(out2) <= 0.25 < (k + 1) / (len(out2) + 1) or k == n_no
    assert len(out2) - k == rest
    assert [e.id for e in us_mod.undersample(rows, max_count=20, seed=1)] == [e.id for e in out]
    assert [e.id for e in us_mod.undersample(rows, max_count=20, seed=2)] != [e.id for e in out]
    with pytest.raises(KreError):
        us_mod.undersample(rows, seed=1)


# -- the pipeline and the command ---------------------------------------------------------------------------------------------


def test_cli_entity_swap_aeda_undersample(tmp_path: Path, kre) -> None:
    split = make_split(tmp_path, n=160)
    result = kre(
        "augment", split, "--root", tmp_path, "-m", "entity-swap", "-m", "aeda", "-m", "undersample",
        "--max-count", "10", "--n-per-example", "2", "--seed", "3", ok=True,
    )  # fmt: skip
    assert "augments/0001-entity-swap-aeda-undersample" in result.output
    out = tmp_path / "augments" / "0001-entity-swap-aeda-undersample"
    assert (out / "valid.csv").read_bytes() == (split / "valid.csv").read_bytes()
    assert (out / "folds.csv").read_bytes() == (split / "folds.csv").read_bytes()
    assert (out / "similarity.png").stat().st_size > 1000
    rows = assert_all_valid(out / "train.csv")
    header = (out / "train.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "id,sentence,subject_entity,object_entity,label,source,aug_method,aug_parent"
    groups = rows_by_method(out / "train.csv")
    originals = {e.id: e for e in groups[""]}
    assert all(e.extra["aug_parent"] == "" for e in originals.values())
    assert Counter(e.label for e in originals.values())["no_relation"] == 10
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    for method in ("entity-swap", "aeda"):
        assert groups[method], method
        assert report["methods"][method]["kept"] == len(groups[method])
        m = report["methods"][method]
        assert m["tried"] == m["kept"] + m["dropped_total"]
        for ex in groups[method]:
            assert ex.extra["aug_parent"] in originals  # parents are rows kept after undersampling
            assert ex.id.startswith(ex.extra["aug_parent"] + f"-{method}-")
    assert report["rows"]["total"] == len(rows)
    assert report["methods"]["undersample"]["dropped"] == {"over_cap": report["rows"]["removed"]}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"][0]["artifact"] == "splits/0001-test"
    assert manifest["params"]["methods"] == ["entity-swap", "aeda", "undersample"]
    assert manifest["metrics"]["rows_total"] == len(rows)
    # Same command, same seed: same train.csv.
    kre("augment", split, "--root", tmp_path, "-m", "entity-swap", "-m", "aeda", "-m", "undersample",
        "--max-count", "10", "--n-per-example", "2", "--seed", "3", ok=True)  # fmt: skip
    assert (tmp_path / "augments" / "0002-entity-swap-aeda-undersample" / "train.csv").read_bytes() == (out / "train.csv").read_bytes()


def test_only_labels_and_max_per_label(tmp_path: Path) -> None:
    split = make_split(tmp_path, n=300)
    train = read_dataset(split / "train.csv").examples
    target = Counter(e.label for e in train if e.label != "no_relation").most_common(2)
    wanted = [lab for lab, _ in target]
    art = run_augment(AugmentConfig(split=split, root=tmp_path, method=["aeda"], only_labels=wanted, max_per_label=3, n_per_example=3, seed=1))
    groups = rows_by_method(art.file("train.csv"))
    new = Counter(e.label for e in groups["aeda"])
    assert set(new) == set(wanted)
    assert all(n == 3 for n in new.values())
    report = json.loads(art.file("report.json").read_text(encoding="utf-8"))
    assert report["methods"]["aeda"]["dropped"].get("over_max_per_label", 0) > 0


def test_pipeline_backtranslate_then_cache_reuse(tmp_path: Path, _private_cache: Path) -> None:
    split = make_split(tmp_path, n=80)
    first = LowTranslator()
    art = run_augment(AugmentConfig(split=split, root=tmp_path, method=["backtranslate"], seed=1), translator=first, embedder=FakeEmbedder())
    assert first.calls > 0 and _private_cache.exists()
    rows = assert_all_valid(art.file("train.csv"))
    report = json.loads(art.file("report.json").read_text(encoding="utf-8"))
    bt_rows = [e for e in rows if e.extra["aug_method"] == "backtranslate"]
    assert bt_rows and report["methods"]["backtranslate"]["kept"] == len(bt_rows)
    assert report["methods"]["backtranslate"]["dropped"]["low_similarity"] > 0
    assert report["similarity"]["threshold"] == 0.9
    assert report["backtranslate"]["cache"] == str(_private_cache)
    second = LowTranslator()
    art2 = run_augment(AugmentConfig(split=split, root=tmp_path, method=["backtranslate"], seed=1), translator=second, embedder=FakeEmbedder())
    assert second.calls == 0  # everything came from the cache
    assert art2.file("train.csv").read_bytes() == art.file("train.csv").read_bytes()
    report2 = json.loads(art2.file("report.json").read_text(encoding="utf-8"))
    assert report2["backtranslate"]["translator_calls"] == 0 and report2["backtranslate"]["cache_hits"] > 0


def test_network_lost_mid_run_keeps_cache_and_next_run_resumes(tmp_path: Path, _private_cache: Path) -> None:
    split = make_split(tmp_path, n=80)
    n_train = len(read_dataset(split / "train.csv").examples)
    sleeps: list[float] = []
    plan = {"die_after": 50}
    art = run_augment(AugmentConfig(split=split, root=tmp_path, method=["backtranslate", "aeda"], min_similarity=0, batch_size=8, seed=1), translator=fake_deep(plan, sleeps, max_tries=3))
    report = json.loads(art.file("report.json").read_text(encoding="utf-8"))
    assert "unreachable after 3 tries" in report["interrupted"]
    assert art.manifest["interrupted"] == report["interrupted"]
    assert plan["requests"] == 50 + 3  # stopped asking after the failure, no further requests
    dropped = report["methods"]["backtranslate"]["dropped"]
    assert dropped["network_lost"] > 0
    assert 0 < report["backtranslate"]["rows_translated"] < n_train
    with TranslationCache(_private_cache) as cache:
        assert len(cache) == 50
    assert_all_valid(art.file("train.csv"))
    assert rows_by_method(art.file("train.csv"))["aeda"]  # the other method still ran

    resumed = ReverseTranslator()
    art2 = run_augment(AugmentConfig(split=split, root=tmp_path, method=["backtranslate", "aeda"], min_similarity=0, batch_size=8, seed=1), translator=replace_name(resumed, "google"))
    report2 = json.loads(art2.file("report.json").read_text(encoding="utf-8"))
    assert report2["interrupted"] is None
    assert report2["backtranslate"]["translations_requested"] == resumed.texts == 2 * n_train - 50
    fresh = ReverseTranslator()
    art3 = run_augment(AugmentConfig(split=split, root=tmp_path, method=["backtranslate", "aeda"], min_similarity=0, batch_size=8, seed=1, cache=tmp_path / "fresh.sqlite"), translator=fresh)
    assert art3.file("train.csv").read_bytes() == art2.file("train.csv").read_bytes()


def replace_name(translator: ReverseTranslator, name: str) -> ReverseTranslator:
    translator.name = name
    return translator


def test_cli_network_down_from_the_start_fails_cleanly(tmp_path: Path, kre, monkeypatch: pytest.MonkeyPatch) -> None:
    split = make_split(tmp_path, n=20)
    import kre.augment.pipeline as pipeline

    sleeps: list[float] = []
    monkeypatch.setattr(pipeline, "make_translator", lambda name, **kw: fake_deep({"die_after": 0}, sleeps, max_tries=2))
    result = kre("augment", split, "--root", tmp_path, "-m", "backtranslate", "--min-similarity", "0", ok=False)
    assert result.exit_code == 1
    assert "Error: back-translation stopped before any row was translated" in result.output
    assert "unreachable after 2 tries" in result.output
    assert not (tmp_path / "augments").exists() or not ArtifactStore(tmp_path).list("augments")


def test_backtranslate_needs_an_embedder_for_filtering(tmp_path: Path, kre) -> None:
    split = make_split(tmp_path, n=20)
    result = kre("augment", split, "--root", tmp_path, "-m", "backtranslate", ok=False)
    assert result.exit_code == 1 and "--embedder" in result.output


def test_stacking_on_an_augments_artifact(tmp_path: Path) -> None:
    split = make_split(tmp_path, n=80)
    first = run_augment(AugmentConfig(split=split, root=tmp_path, method=["entity-swap"], seed=1))
    second = run_augment(AugmentConfig(split="augments/latest", root=tmp_path, method=["aeda"], seed=1))
    rows = assert_all_valid(second.file("train.csv"))
    originals = {e.id for e in read_dataset(split / "train.csv").examples}
    for e in rows:
        if e.extra["aug_method"]:
            assert e.extra["aug_parent"] in originals  # always the original row, also for aeda of a swapped row
    assert any("-entity-swap-" in e.id and e.extra["aug_method"] == "aeda" for e in rows)
    assert second.file("valid.csv").read_bytes() == first.file("valid.csv").read_bytes() == (split / "valid.csv").read_bytes()


def test_bad_input_exits_1_and_writes_nothing(tmp_path: Path, kre) -> None:
    split = make_split(tmp_path, n=40, bad_train=True)
    result = kre("augment", split, "--root", tmp_path, "-m", "aeda", ok=False)
    assert result.exit_code == 1
    assert "train.csv: row 3, field 'subject_entity'" in result.output
    assert ArtifactStore(tmp_path).list("augments") == []
    good = make_split(tmp_path / "g", n=40)
    for args, needle in [
        ((), "no augmentation method"),
        (("-m", "aeda", "--only-labels", "per:nothing"), "unknown label"),
        (("-m", "undersample"), "--max-count or --max-ratio"),
        (("-m", "undersample", "--max-ratio", "1.5"), "--max-ratio"),
    ]:
        result = kre("augment", good, "--root", tmp_path / "g", *args, ok=False)
        assert result.exit_code == 1 and needle in result.output, (args, result.output)
    result = kre("augment", "runs/latest", "--root", tmp_path / "g", "-m", "aeda", ok=False)
    assert result.exit_code == 1
    assert ArtifactStore(tmp_path / "g").list("augments") == []


def test_config_file_fills_options_and_flags_win(tmp_path: Path, kre) -> None:
    split = make_split(tmp_path, n=60)
    config = tmp_path / "aug.toml"
    config.write_text('method = ["aeda", "undersample"]\nmax-count = 5\nn-per-example = 2\nseed = 9\n', encoding="utf-8")
    kre("augment", split, "--root", tmp_path, "--config", config, "--seed", "11", ok=True)
    art = ArtifactStore(tmp_path).resolve("augments/latest")
    assert art.params["methods"] == ["aeda", "undersample"]
    assert art.params["n_per_example"] == 2 and art.params["max_count"] == 5
    assert art.manifest["seed"] == 11
    assert Counter(e.label for e in rows_by_method(art.file("train.csv"))[""])["no_relation"] == 5


def test_texts_a_translator_refuses_are_dropped_not_faked() -> None:
    class Refusing(ReverseTranslator):
        name = "fake-refusing"

        def translate(self, texts: list[str], source: str, target: str) -> list[str]:
            done = []
            for t in texts:
                if "이순신" in t:
                    raise TranslationError("refused", transient=False, partial=done)
                done.append(super().translate([t], source, target)[0])
            return done

    parents = synth_examples(60, seed=9)
    refused = sum(1 for p in parents if "이순신" in bt.protect(p))
    assert 0 < refused < 60
    stats = MethodStats()
    result = bt.backtranslate(parents, translator=Refusing(), embedder=None, min_similarity=0, batch_size=7, stats=stats)
    assert stats.dropped["translation_failed"] == refused
    assert result.interrupted is None
    assert len(result.examples) + sum(stats.dropped.values()) == 60
    assert all("이순신" not in bt.protect(e) for e in result.examples)
