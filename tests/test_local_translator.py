"""`--translator local:MODEL`: tiny random seq2seq models (Marian, M2M100-style) built on the fly, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import synth_examples
from kre.augment.translators import LocalTranslator, TranslationError, make_translator
from kre.errors import ConfigError

from test_augment import make_split


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache" / "translations.sqlite"
    monkeypatch.setenv("KRE_CACHE", str(path))
    return path


def _tokenizer(extra_special: list[str]):
    """A whitespace word-level tokenizer over synthetic task text, the markers and some English words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = {w for e in synth_examples(200, seed=3) for w in e.sentence.split()}
    words |= {"ZQS", "ZQO", "the", "was", "born", "in", "."}
    specials = ["<pad>", "</s>", "<unk>", *extra_special]
    vocab = {tok: i for i, tok in enumerate([*specials, *sorted(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   additional_special_tokens=extra_special or None, model_max_length=128)
    return fast


def _save(model, tokenizer, folder: Path) -> Path:
    # a random model must still write something: never end (or pad) before the length limit
    model.generation_config.suppress_tokens = [tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id]
    model.generation_config.max_length = None
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_marian(folder: Path) -> Path:
    import torch
    from transformers import MarianConfig, MarianMTModel

    tok = _tokenizer([])
    config = MarianConfig(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        forced_eos_token_id=None,
    )
    torch.manual_seed(0)
    return _save(MarianMTModel(config), tok, folder)


def build_m2m(folder: Path) -> Path:
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    tok = _tokenizer(["__ko__", "__en__"])
    config = M2M100Config(
        vocab_size=len(tok), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=128,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.eos_token_id, forced_eos_token_id=None,
    )
    torch.manual_seed(0)
    return _save(M2M100ForConditionalGeneration(config), tok, folder)


@pytest.fixture(scope="module")
def marian_dirs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two tiny Marian models, one per direction: returns the `{src}`/`{tgt}` template."""
    base = tmp_path_factory.mktemp("marian")
    build_marian(base / "m-ko-en")
    build_marian(base / "m-en-ko")
    return str(base / "m-{src}-{tgt}")


@pytest.fixture(scope="module")
def m2m_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_m2m(tmp_path_factory.mktemp("m2m") / "model")


TEXTS = [e.sentence for e in synth_examples(14, seed=5, pairs_per_sentence=2)][::2]  # 7 sentences


def test_marian_batches_per_direction(marian_dirs: str) -> None:
    tr = LocalTranslator(marian_dirs, batch_size=3, num_beams=1)
    out = tr.translate(TEXTS, "ko", "en")
    assert len(out) == 7 and all(isinstance(t, str) and t for t in out)
    assert tr.generate_calls == 3  # 7 texts in batches of 3
    assert tr.translate(TEXTS, "ko", "en") == out  # deterministic (greedy)
    tr.translate(out[:2], "en", "ko")
    assert sorted(Path(k).name for k in tr._models) == ["m-en-ko", "m-ko-en"]
    assert tr.name == "local:" + marian_dirs


def test_m2m_gets_language_codes(m2m_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tr = LocalTranslator(str(m2m_dir), batch_size=4, num_beams=1)
    tokenizer, model = tr._load(str(m2m_dir))
    seen: list[dict] = []
    real = model.generate

    def spy(**kwargs):
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    out = tr.translate(TEXTS[:5], "ko", "en")
    assert len(out) == 5 and len(seen) == 2
    ko, en = tokenizer.convert_tokens_to_ids("__ko__"), tokenizer.convert_tokens_to_ids("__en__")
    assert seen[0]["forced_bos_token_id"] == en
    assert (seen[0]["input_ids"][:, 0] == ko).all()  # the source code leads every input
    with pytest.raises(ConfigError, match="no language code for 'xx'"):
        tr.translate(["a"], "ko", "xx")


def test_refusals(marian_dirs: str, tmp_path: Path) -> None:
    one = marian_dirs.replace("{src}", "ko").replace("{tgt}", "en")
    with pytest.raises(ConfigError, match="translates one direction"):
        LocalTranslator(one).translate(["x"], "ko", "en")
    with pytest.raises(ConfigError, match="cannot load"):
        LocalTranslator(str(tmp_path / "nothing-here")).translate(["x"], "ko", "en")
    with pytest.raises(ConfigError, match="both"):
        LocalTranslator("x-{src}")
    with pytest.raises(ConfigError, match="needs a model"):
        make_translator("local:")
    with pytest.raises(ConfigError, match="unknown translator 'bogus'"):
        make_translator("bogus")
    assert isinstance(make_translator("local:" + marian_dirs, batch_size=5), LocalTranslator)


def test_empty_output_is_a_failed_translation(marian_dirs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    tr = LocalTranslator(marian_dirs, batch_size=2, num_beams=1)
    monkeypatch.setattr(tr, "_generate", lambda tok, model, texts, s, b: ["" if t == "b" else t.upper() for t in texts])
    with pytest.raises(TranslationError) as info:
        tr.translate(["a", "c", "b", "d"], "ko", "en")
    assert info.value.partial == ["A", "C"] and not info.value.transient


def _augment(kre, split: Path, root: Path, translator: str, cache: Path, name: str) -> dict:
    kre("augment", split, "--root", root, "-m", "backtranslate", "--translator", translator, "--min-similarity", "0",
        "--cache", cache, "--batch-size", "8", "--name", name, ok=True)
    return json.loads((next((root / "augments").glob(f"*-{name}")) / "report.json").read_text())


def test_cli_random_model_plumbing_and_cache(kre, tmp_path: Path, marian_dirs: str) -> None:
    split = make_split(tmp_path, n=40, folds=False)
    cache = tmp_path / "t.sqlite"
    first = _augment(kre, split, tmp_path, "local:" + marian_dirs, cache, "one")
    bt, stats = first["backtranslate"], first["methods"]["backtranslate"]
    assert bt["translator"] == "local:" + marian_dirs
    assert stats["tried"] == 32 and stats["tried"] == stats["kept"] + stats["dropped_total"]
    assert bt["translator_calls"] >= 4 + 1 and bt["translations_requested"] > 0  # 16 sentences / 8 per batch, both ways
    # a random model loses the markers: the rows are dropped and counted, none is published broken
    assert set(stats["dropped"]) <= {"entity_lost", "entity_repeated", "unchanged", "translation_failed"}
    again = _augment(kre, split, tmp_path, "local:" + marian_dirs, cache, "two")
    assert again["backtranslate"]["translator_calls"] == 0 and again["backtranslate"]["cache_hits"] > 0
    same = ("tried", "kept", "dropped", "dropped_total")
    assert {k: again["methods"]["backtranslate"][k] for k in same} == {k: stats[k] for k in same}


def test_cli_success_path_keeps_entities(kre, tmp_path: Path, marian_dirs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real model loads and batches, but writes a fake 'translation' that keeps the markers."""
    from test_augment import assert_all_valid, rows_by_method

    calls: list[int] = []

    def fake_generate(self, tokenizer, model, texts, src_id, bos_id):
        calls.append(len(texts))
        return [f"{t} 다시" if not t.endswith("다시") else t.replace(" 다시", " 또") for t in texts]

    monkeypatch.setattr(LocalTranslator, "_generate", fake_generate)
    split = make_split(tmp_path, n=40, folds=False)
    report = _augment(kre, split, tmp_path, "local:" + marian_dirs, tmp_path / "t.sqlite", "ok")
    stats = report["methods"]["backtranslate"]
    assert stats["kept"] > 0 and stats["kept"] + stats["dropped_total"] == stats["tried"]
    assert max(calls) <= 8
    out = next((tmp_path / "augments").glob("*-ok"))
    new = rows_by_method(out / "train.csv")["backtranslate"]
    assert len(new) == stats["kept"]
    for ex in new:
        assert ex.sentence.endswith(" 또")  # ko -> en -> ko, both through the fake model
    assert_all_valid(out / "train.csv")
