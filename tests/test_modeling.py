"""kre.modeling: templates, encoding (positions, truncation, cache), collation, heads, losses, type masks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import synth_examples, unlabeled
from kre.data import Entity, Example
from kre.errors import ConfigError
from kre.labels import DEFAULT_LABELS, LabelSet
from kre.modeling import encoding as enc_mod
from kre.modeling.collate import Collator
from kre.modeling.encoding import cache_path, encode_dataset, encode_examples, entity_window
from kre.modeling.heads import build_model, freeze_lower_layers, load_model, save_model
from kre.modeling.losses import build_loss, class_weight_vector
from kre.modeling.restrict import apply_type_mask, type_mask
from kre.modeling.templates import Marker, TemplateConfig, prepare_tokenizer, render, special_tokens

ALL_MARKERS = [m.value for m in Marker]
FILLER = ["그리고", "이후", "기록", "에서", "다시", "함께", "널리", "알려졌다"]


# ---------------------------------------------------------------- tokenizers for position checks


def _train_tokenizer(kind: str):
    """A small fast tokenizer whose vocabulary covers marker punctuation and type words.

    `wordpiece`: BERT style ([CLS]/[SEP], offsets without spaces); `metaspace`: XLM-R/e5
    style (<s>/</s>, pieces carry the leading space in their offsets).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    texts = []
    for e in synth_examples(200, seed=5):
        for m in ALL_MARKERS:
            for q in (False, True):
                r = render(e, TemplateConfig(marker=m, query=q, type_words="ko"))
                texts += [r.first, r.second or ""]
    texts += [" ".join(FILLER)] * 5
    if kind == "wordpiece":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
        cls, sep = "[CLS]", "[SEP]"
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
            special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token=cls,
                                       sep_token=sep, mask_token="[MASK]",
                                       model_input_names=["input_ids", "token_type_ids", "attention_mask"])
    specials = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=800, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", cls_token="<s>",
                                   sep_token="</s>", mask_token="<mask>", model_input_names=["input_ids", "attention_mask"])


@pytest.fixture(scope="module", params=["wordpiece", "metaspace"])
def any_tokenizer(request):
    return _train_tokenizer(request.param)


def _fresh(tokenizer):
    import copy

    return copy.deepcopy(tokenizer)


def _squash(tokenizer, ids: list[int]) -> str:
    """Tokens joined without spaces or sub-word marks (so it compares with the rendered text)."""
    toks = tokenizer.convert_ids_to_tokens(ids)
    return "".join(t.replace("##", "").replace("\u2581", "") for t in toks)


def _nospace(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- templates


def test_template_config_round_trip_and_validation() -> None:
    cfg = TemplateConfig(marker=Marker.typed_marker, query=True, type_words="en", max_length=128)
    assert cfg.marker == "typed-marker"
    assert TemplateConfig.from_dict(cfg.to_dict()) == cfg
    assert TemplateConfig() == TemplateConfig(marker="typed-marker-punct", query=False, type_words="ko", max_length=256)
    for bad in ({"marker": "bogus"}, {"type_words": "fr"}, {"max_length": 4}):
        with pytest.raises(ConfigError):
            TemplateConfig(**bad)


def test_render_examples_of_each_style() -> None:
    s = "이순신은 1545년에 태어났다."
    e = Example("1", s, Entity("이순신", 0, 2, "PER"), Entity("1545년", 5, 9, "DAT"), None)
    assert render(e, TemplateConfig()).first == "@ * 사람 * 이순신 @은 # ^ 날짜 ^ 1545년 #에 태어났다."
    assert render(e, TemplateConfig(type_words="en")).first.startswith("@ * person * 이순신 @")
    assert render(e, TemplateConfig(marker="typed-marker")).first == "<S:PER> 이순신 </S:PER>은 <O:DAT> 1545년 </O:DAT>에 태어났다."
    assert render(e, TemplateConfig(marker="entity-marker")).first == "[E1] 이순신 [/E1]은 [E2] 1545년 [/E2]에 태어났다."
    assert render(e, TemplateConfig(marker="entity-marker-punct")).first == "@ 이순신 @은 # 1545년 #에 태어났다."
    assert render(e, TemplateConfig(marker="entity-mask")).first == "[SUBJ-PER]은 [OBJ-DAT]에 태어났다."
    none = render(e, TemplateConfig(marker="none"), sep_token="[SEP]")
    assert (none.first, none.second, none.sentence_segment) == ("이순신[SEP]1545년", s, 1)
    q = render(e, TemplateConfig(query=True))
    assert q.second == "@ * 사람 * 이순신 @과 # ^ 날짜 ^ 1545년 #의 관계"
    assert render(e, TemplateConfig(marker="none", query=True)).first == "사람 이순신과 날짜 1545년의 관계"
    # object before subject, and adjacent entities
    e2 = Example("2", "1545년이순신", Entity("이순신", 5, 7, "PER"), Entity("1545년", 0, 4, "DAT"), None)
    r = render(e2, TemplateConfig(marker="entity-marker"))
    assert r.first == "[E2] 1545년 [/E2][E1] 이순신 [/E1]"
    assert r.first[r.subj[0] : r.subj[1]] == "[E1] 이순신 [/E1]"
    assert r.first[r.obj[0] : r.obj[1]] == "[E2] 1545년 [/E2]"


def test_special_tokens_added_once(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    for marker, count in [("none", 0), ("typed-marker-punct", 0), ("entity-marker", 4), ("entity-mask", 12), ("typed-marker", 24)]:
        cfg = TemplateConfig(marker=marker)
        assert len(special_tokens(cfg)) == count
    n0 = len(tok)
    assert prepare_tokenizer(tok, TemplateConfig(marker="typed-marker")) == 24
    assert prepare_tokenizer(tok, TemplateConfig(marker="typed-marker")) == 0
    assert len(tok) == n0 + 24
    assert tok.convert_ids_to_tokens(tok("<S:PER> 세종")["input_ids"])[1] == "<S:PER>"


# ---------------------------------------------------------------- encoding


@pytest.mark.parametrize("query", [False, True])
@pytest.mark.parametrize("marker", ALL_MARKERS)
def test_positions_point_at_markers(any_tokenizer, marker: str, query: bool) -> None:
    tok = _fresh(any_tokenizer)
    cfg = TemplateConfig(marker=marker, query=query)
    prepare_tokenizer(tok, cfg)
    examples = synth_examples(12, seed=2)
    examples[3] = replace(examples[3], label=None)
    encs = encode_examples(examples, tok, cfg, DEFAULT_LABELS)
    assert len(encs) == len(examples)
    seps = tok.sep_token_id
    for e, x in zip(examples, encs):
        r = render(e, cfg, tok.sep_token)
        seg = r.first if r.sentence_segment == 0 else r.second
        ids = x["input_ids"]
        assert x["length"] == len(ids) == len(x["attention_mask"])
        assert ids[0] == tok.cls_token_id and ids[-1] == seps
        # the decoded tokens from each position start with the marked entity's text
        for pos, span in ((x["subj_pos"], r.subj), (x["obj_pos"], r.obj)):
            expected = _nospace(seg[span[0] : span[1]])
            assert _squash(tok, ids[pos:]).startswith(expected), (marker, query, expected, tok.convert_ids_to_tokens(ids))
        # positions lie in the sentence segment: after the first separator exactly when it is segment 1
        first_sep = ids.index(seps)
        for pos in (x["subj_pos"], x["obj_pos"]):
            assert (pos > first_sep) == (r.sentence_segment == 1)
        if marker in ("typed-marker", "entity-marker", "entity-mask"):
            start = tok.convert_ids_to_tokens(ids[x["subj_pos"]])
            assert start in ("[E1]", f"<S:{e.subject.type}>", f"[SUBJ-{e.subject.type}]")
        two_segments = query or marker == "none"
        assert ids.count(seps) >= (2 if two_segments else 1)
        if "token_type_ids" in x:
            assert len(x["token_type_ids"]) == len(ids)
            assert (max(x["token_type_ids"]) == 1) == two_segments
        if query:
            # the query is the second segment, or the first for `none` (whose sentence is second)
            tail = _squash(tok, ids[first_sep:] if marker != "none" else ids[:first_sep])
            assert "관계" in tail
            if marker != "entity-mask":
                assert _nospace(e.subject.word) in tail and _nospace(e.object.word) in tail
    assert encs[3]["labels"] == -100
    assert encs[0]["labels"] == DEFAULT_LABELS.id(examples[0].label)


def test_unknown_label_and_slow_tokenizer_refused(any_tokenizer) -> None:
    from kre.errors import DataError

    ex = synth_examples(2, seed=1)
    with pytest.raises(DataError, match="unknown label"):
        encode_examples(ex, any_tokenizer, TemplateConfig(), LabelSet(("no_relation", "x")))

    class Slow:
        is_fast = False

    with pytest.raises(ConfigError, match="fast"):
        encode_examples(ex, Slow(), TemplateConfig(), DEFAULT_LABELS)


def test_entity_window_cases() -> None:
    # fits: centred on the span covering both entities
    keep = entity_window(100, [(40, 42), (50, 52)], 20)
    assert keep.tolist() == list(range(37, 57))  # 13-token cover, 7 spare: 3 before, 4 after
    # near the start: window moved inward
    assert entity_window(100, [(0, 1), (5, 6)], 20).tolist() == list(range(0, 20))
    assert entity_window(100, [(95, 96), (97, 99)], 20).tolist() == list(range(80, 100))
    # far apart: both spans kept whole, text between dropped, exactly `budget` tokens
    keep = entity_window(100, [(97, 99), (0, 3)], 20)
    assert len(keep) == 20 and len(set(keep.tolist())) == 20 and (np.diff(keep) > 0).all()
    assert {0, 1, 2, 3, 97, 98, 99} <= set(keep.tolist())
    keep = entity_window(200, [(50, 55), (150, 152)], 30)
    assert len(keep) == 30 and set(range(50, 56)) | set(range(150, 153)) <= set(keep.tolist())
    # spans longer than the budget: both starts kept
    keep = entity_window(300, [(10, 100), (200, 290)], 40)
    assert len(keep) == 40 and 10 in keep and 200 in keep and (np.diff(keep) > 0).all()
    keep = entity_window(300, [(10, 100), (200, 201)], 40)
    assert len(keep) == 40 and {10, 200, 201} <= set(keep.tolist()) and keep.max() < 300
    assert entity_window(10, [(0, 1), (3, 4)], 20).tolist() == list(range(10))
    # nested spans longer than the budget: both starts kept
    keep = entity_window(300, [(10, 200), (150, 160)], 40)
    assert len(keep) == 40 and 10 in keep and 150 in keep


def _long_example(where: str) -> Example:
    words = [FILLER[i % len(FILLER)] for i in range(120)]
    subj_at, obj_at = {"ends": (0, 119), "middle": (55, 62), "start": (1, 4), "end": (112, 117)}[where]
    words[subj_at], words[obj_at] = "이순신", "한양"
    sentence = " ".join(words)
    s = sentence.index("이순신")
    o = sentence.index("한양")
    return Example(where, sentence, Entity("이순신", s, s + 2, "PER"), Entity("한양", o, o + 1, "LOC"), "no_relation")


@pytest.mark.parametrize("marker", ["typed-marker-punct", "none", "entity-marker", "entity-mask"])
@pytest.mark.parametrize("query", [False, True])
def test_truncation_keeps_both_entities(any_tokenizer, marker: str, query: bool) -> None:
    tok = _fresh(any_tokenizer)
    cfg = TemplateConfig(marker=marker, query=query, max_length=40)
    prepare_tokenizer(tok, cfg)
    examples = [_long_example(w) for w in ("ends", "middle", "start", "end")]
    full = encode_examples(examples, tok, replace(cfg, max_length=10_000), DEFAULT_LABELS)
    cut = encode_examples(examples, tok, cfg, DEFAULT_LABELS)
    for e, f, x in zip(examples, full, cut):
        assert f["length"] > 40
        assert x["length"] == len(x["input_ids"]) == 40
        ids = x["input_ids"]
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        r = render(e, cfg, tok.sep_token)
        seg = r.first if r.sentence_segment == 0 else r.second
        for pos, span in ((x["subj_pos"], r.subj), (x["obj_pos"], r.obj)):
            assert _squash(tok, ids[pos:]).startswith(_nospace(seg[span[0] : span[1]])), (e.id, marker)
        # the other segment is kept whole
        other = r.second if r.sentence_segment == 0 else r.first
        if other is not None:
            assert _nospace(other).replace(tok.sep_token, "") in _squash(tok, ids).replace(tok.sep_token, "")
        # kept tokens are a subsequence of the full encoding, in order
        it = iter(f["input_ids"])
        assert all(t in it for t in ids)
        if e.id == "middle" and not query and marker != "none":
            # the window is centred: the entities are not at the edge
            assert 5 < x["subj_pos"] < 35 and 5 < x["obj_pos"] < 35


def test_truncation_budget_too_small(any_tokenizer) -> None:
    from kre.errors import DataError

    tok = _fresh(any_tokenizer)
    cfg = TemplateConfig(query=True, max_length=16)
    with pytest.raises(DataError, match="no room"):
        encode_examples([_long_example("ends")], tok, cfg, DEFAULT_LABELS)


def _rows(dataset) -> list[dict]:
    """Dataset rows in the shape of `encode_examples` (attention mask rebuilt)."""
    return [{**row, "attention_mask": [1] * row["length"]} for row in dataset]


def test_cache_hit_and_key(tmp_path: Path, any_tokenizer, monkeypatch: pytest.MonkeyPatch) -> None:
    tok = _fresh(any_tokenizer)
    cfg = TemplateConfig(marker="typed-marker-punct", query=True)
    examples = synth_examples(20, seed=4)
    examples[1] = replace(examples[1], label=None)
    first = _rows(encode_dataset(examples, tok, cfg, DEFAULT_LABELS, cache_dir=tmp_path))
    path = cache_path(examples, tok, cfg, DEFAULT_LABELS, cache_dir=tmp_path)
    assert path.exists() and path.suffix == ".arrow"
    expected = encode_examples(examples, tok, cfg, DEFAULT_LABELS)
    assert first == [{k: e[k] for k in first[0]} for e in expected]

    def boom(*a, **k):
        raise AssertionError("should have been a cache hit")

    monkeypatch.setattr(enc_mod, "encode_examples", boom)
    again = encode_dataset(examples, tok, cfg, DEFAULT_LABELS, cache_dir=tmp_path)
    assert _rows(again) == first and again.cache_files[0]["filename"] == str(path)  # memory-mapped from the cache
    monkeypatch.undo()
    done: list[int] = []
    assert encode_examples(examples, tok, cfg, DEFAULT_LABELS, batch_size=6, progress=done.append) == expected
    assert done == [6, 6, 6, 2]
    # the key depends on the template, the data, the labels and the tokenizer
    keys = {path.name}
    keys.add(cache_path(examples, tok, replace(cfg, marker="entity-marker"), DEFAULT_LABELS, tmp_path).name)
    keys.add(cache_path(examples, tok, replace(cfg, max_length=64), DEFAULT_LABELS, tmp_path).name)
    keys.add(cache_path(examples[:-1], tok, cfg, DEFAULT_LABELS, tmp_path).name)
    keys.add(cache_path(unlabeled(examples), tok, cfg, DEFAULT_LABELS, tmp_path).name)
    keys.add(cache_path(examples, tok, cfg, LabelSet(tuple(reversed(DEFAULT_LABELS.names))), tmp_path).name)
    tok2 = _fresh(tok)
    tok2.add_tokens(["[NEW]"], special_tokens=True)
    keys.add(cache_path(examples, tok2, cfg, DEFAULT_LABELS, tmp_path).name)
    assert len(keys) == 7
    # a different template writes a second file; KRE_CACHE moves the default location
    monkeypatch.setenv("KRE_CACHE", str(tmp_path / "env"))
    other = _rows(encode_dataset(examples, tok, replace(cfg, marker="none"), DEFAULT_LABELS))
    assert other != first
    assert len(list((tmp_path / "env" / "encodings").glob("*.arrow"))) == 1
    # a corrupt cache file is ignored and rewritten
    path.write_bytes(b"not an arrow file")
    assert _rows(encode_dataset(examples, tok, cfg, DEFAULT_LABELS, cache_dir=tmp_path)) == first


# ---------------------------------------------------------------- collation and batching


def test_collator_pads_per_batch() -> None:
    feats = [
        {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "token_type_ids": [0, 0, 1], "subj_pos": 1, "obj_pos": 2, "labels": 3, "length": 3},
        {"input_ids": [5, 6], "attention_mask": [1, 1], "token_type_ids": [0, 1], "subj_pos": 0, "obj_pos": 1, "labels": -100, "length": 2},
    ]
    b = Collator(pad_token_id=9)(feats)
    assert b["input_ids"].tolist() == [[5, 6, 7], [5, 6, 9]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert b["token_type_ids"].tolist() == [[0, 0, 1], [0, 1, 0]]
    assert b["subj_pos"].tolist() == [1, 0] and b["obj_pos"].tolist() == [2, 1] and b["labels"].tolist() == [3, -100]
    assert all(t.dtype == torch.long for t in b.values()) and "length" not in b
    b8 = Collator(pad_token_id=0, pad_to_multiple_of=8)([{"input_ids": [1, 2, 3], "subj_pos": 0, "obj_pos": 1}])
    assert b8["input_ids"].shape == (1, 8) and "token_type_ids" not in b8 and b8["labels"].tolist() == [-100]


# ---------------------------------------------------------------- heads


@pytest.fixture(scope="module")
def tiny_batch(tiny_model: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    cfg = TemplateConfig(marker="typed-marker", query=True, max_length=64)
    added = prepare_tokenizer(tok, cfg)
    assert added == 24
    examples = synth_examples(6, seed=7)
    encs = encode_examples(examples, tok, cfg, DEFAULT_LABELS)
    return tok, cfg, Collator(tok.pad_token_id)(encs)


@pytest.mark.parametrize("head", ["cls", "entity", "lstm"])
def test_heads_forward_backward_and_round_trip(tiny_model: Path, tiny_batch, head: str, tmp_path: Path) -> None:
    tok, cfg, batch = tiny_batch
    torch.manual_seed(0)
    model = build_model(tiny_model, head=head, num_labels=len(DEFAULT_LABELS), tokenizer=tok, dropout=0.1)
    assert model.encoder.get_input_embeddings().weight.shape[0] == len(tok)
    assert getattr(model.encoder, "pooler", None) is None
    model.train()
    logits = model(**{k: v for k, v in batch.items() if k != "labels"})
    assert logits.shape == (6, len(DEFAULT_LABELS)) and torch.isfinite(logits).all()
    loss = build_loss("ce", len(DEFAULT_LABELS))(logits, batch["labels"])
    loss.backward()
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
    assert model.encoder.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    # padding does not change the logits of an example (masking is right, also in the BiLSTM)
    model.eval()
    with torch.no_grad():
        one = {k: v[:1, : int(batch["attention_mask"][0].sum())] if v.dim() == 2 else v[:1] for k, v in batch.items()}
        alone = model(**one)
        together = model(**batch)
    assert torch.allclose(alone[0], together[0], atol=1e-5)
    # save / load round trip
    folder = save_model(model, tok, tmp_path / "model", template=cfg, head=head, labels=DEFAULT_LABELS, extra={"epoch": 1})
    meta_json = (folder / "kre_model.json").read_text(encoding="utf-8")
    assert '"head": "' + head + '"' in meta_json and '"typed-marker"' in meta_json
    loaded, tok2, meta = load_model(folder)
    assert meta["template"] == cfg and meta["label_set"] == DEFAULT_LABELS and meta["head"] == head
    assert meta["extra"] == {"epoch": 1} and meta["num_labels"] == 30
    assert len(tok2) == len(tok)
    with torch.no_grad():
        again = loaded(**batch)
    assert torch.allclose(together, again, atol=1e-6)
    # the folder's encoder loads with plain AutoModel, offline
    from transformers import AutoModel

    assert AutoModel.from_pretrained(folder).config.vocab_size == len(tok)


def test_token_types_only_when_the_model_has_them(tiny_model: Path, tiny_batch) -> None:
    tok, _, batch = tiny_batch
    model = build_model(tiny_model, head="cls", num_labels=3, tokenizer=tok)
    assert model._use_token_types  # BERT, type_vocab_size 2
    model.eval()
    weird = dict(batch, token_type_ids=torch.ones_like(batch["input_ids"]))
    with torch.no_grad():
        assert not torch.allclose(model(**batch), model(**weird))
    model._use_token_types = False  # as for RoBERTa (type_vocab_size 1): types are not passed
    with torch.no_grad():
        assert torch.allclose(model(**batch), model(**weird))


def test_heads_need_positions_and_valid_name(tiny_model: Path, tiny_batch) -> None:
    tok, _, batch = tiny_batch
    model = build_model(tiny_model, head="entity", num_labels=3, tokenizer=tok)
    with pytest.raises(ValueError, match="subj_pos"):
        model(batch["input_ids"], batch["attention_mask"])
    with pytest.raises(ConfigError):
        build_model(tiny_model, head="pool", num_labels=3, tokenizer=tok)


def test_freeze_lower_layers_keeps_new_tokens_trainable(tiny_model: Path, tiny_batch) -> None:
    tok, _, batch = tiny_batch
    model = build_model(tiny_model, head="entity", num_labels=30, tokenizer=tok)
    assert freeze_lower_layers(model, 0.0) == 0
    assert freeze_lower_layers(model, 0.5) == 1
    layers = model.encoder.encoder.layer
    assert not any(p.requires_grad for p in layers[0].parameters())
    assert all(p.requires_grad for p in layers[1].parameters())
    assert not model.encoder.embeddings.position_embeddings.weight.requires_grad
    emb = model.encoder.get_input_embeddings().weight
    before = emb.detach().clone()
    groups = model.optimizer_groups(0.01)
    assert any(p is emb for p in groups[1]["params"])
    opt = torch.optim.AdamW(groups, lr=1e-2)
    model.train()
    build_loss("ce", 30)(model(**batch), batch["labels"]).backward()
    opt.step()
    old = len(tok) - model.num_added_tokens
    assert torch.equal(emb[:old], before[:old])
    assert not torch.equal(emb[old:], before[old:])
    with pytest.raises(ConfigError):
        freeze_lower_layers(model, 1.5)


# ---------------------------------------------------------------- losses


def _ce_by_hand(logits: torch.Tensor, labels: list[int]) -> list[float]:
    logp = torch.log_softmax(logits.double(), -1)
    return [-float(logp[i, y]) for i, y in enumerate(labels)]


def test_losses_against_hand_computed_values() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 3.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([0, 2, 1, -100])
    ys = [0, 2, 1]
    per = _ce_by_hand(logits[:3], ys)
    assert build_loss("ce", 3)(logits, labels).item() == pytest.approx(sum(per) / 3, rel=1e-5)
    # label smoothing eps: (1 - eps) * nll + eps * mean_k(-log p_k)
    eps = 0.1
    logp = torch.log_softmax(logits[:3].double(), -1)
    smooth = [(1 - eps) * per[i] + eps * float(-logp[i].mean()) for i in range(3)]
    assert build_loss("label-smoothing", 3, smoothing=eps)(logits, labels).item() == pytest.approx(sum(smooth) / 3, rel=1e-5)
    # focal: gamma=0 is cross-entropy; gamma=2 by hand
    assert build_loss("focal", 3, gamma=0.0)(logits, labels).item() == pytest.approx(sum(per) / 3, rel=1e-5)
    p = [float(torch.exp(-torch.tensor(v))) for v in per]
    focal = [(1 - p[i]) ** 2 * per[i] for i in range(3)]
    assert build_loss("focal", 3, gamma=2.0)(logits, labels).item() == pytest.approx(sum(focal) / 3, rel=1e-5)
    # class weights: counts 1, 2, 4 -> inverse 1, 1/2, 1/4, normalised to mean 1
    counts = [1, 2, 4]
    w = np.array([1.0, 0.5, 0.25])
    w = w / w.mean()
    assert class_weight_vector("inverse", counts, 3).numpy() == pytest.approx(w, rel=1e-6)
    ws = 1 / np.sqrt(counts)
    assert class_weight_vector("sqrt-inverse", counts, 3).numpy() == pytest.approx(ws / ws.mean(), rel=1e-6)
    weighted = sum(w[y] * per[i] for i, y in enumerate(ys)) / sum(w[y] for y in ys)
    got = build_loss("ce", 3, class_counts=counts, class_weights="inverse")(logits, labels).item()
    assert got == pytest.approx(weighted, rel=1e-5)
    got = build_loss("focal", 3, gamma=0.0, class_counts=counts, class_weights="inverse")(logits, labels).item()
    assert got == pytest.approx(weighted, rel=1e-5)
    # a zero count takes the weight of the rarest observed class
    wz = class_weight_vector("inverse", [0, 2, 4], 3).numpy()
    assert wz[0] == pytest.approx(wz[1]) and wz.mean() == pytest.approx(1.0)
    assert build_loss("ce", 3)(logits[3:], labels[3:]).item() == 0.0  # all ignored


def test_ldam_by_hand() -> None:
    counts = [100, 10, 1]
    loss = build_loss("ldam", 3, class_counts=counts, ldam_max_margin=0.5, ldam_scale=10.0)
    m = np.array([c ** -0.25 for c in counts])
    m = m * 0.5 / m.max()
    logits = torch.tensor([[1.0, 0.2, -0.3], [0.5, 0.4, 0.3]])
    labels = torch.tensor([1, 2])
    expected = []
    for i, y in enumerate([1, 2]):
        z = logits[i].double().numpy().copy()
        z[y] -= m[y]
        z = 10.0 * z
        expected.append(-(z[y] - np.log(np.exp(z).sum())))
    assert loss(logits, labels).item() == pytest.approx(float(np.mean(expected)), rel=1e-5)
    with pytest.raises(ConfigError, match="class counts"):
        build_loss("ldam", 3)
    with pytest.raises(ConfigError):
        build_loss("hinge", 3)
    with pytest.raises(ConfigError):
        build_loss("ce", 3, class_weights="inverse")


def test_losses_backward() -> None:
    counts = [5, 3, 0, 2]
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 3, -100, 0, 1])
    for name in ("ce", "label-smoothing", "focal", "ldam"):
        for cw in ("none", "inverse", "sqrt-inverse"):
            value = build_loss(name, 4, class_counts=counts, class_weights=cw)(logits, labels)
            assert torch.isfinite(value)
            (grad,) = torch.autograd.grad(value, logits)
            assert grad[3].abs().sum() == 0 and grad.abs().sum() > 0


# ---------------------------------------------------------------- type restriction


def test_type_mask_and_apply() -> None:
    labels = LabelSet(("no_relation", "org:members", "per:title", "per:origin"))
    ex = synth_examples(6, seed=1)
    ex = [replace(ex[0], subject=replace(ex[0].subject, type="ORG")), replace(ex[1], subject=replace(ex[1].subject, type="PER")),
          replace(ex[2], subject=replace(ex[2].subject, type="LOC"))]
    mask = type_mask(ex, labels)
    assert mask.tolist() == [[True, True, False, False], [True, False, True, True], [True, True, True, True]]
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25], [0.4, 0.3, 0.2, 0.1]])
    out = apply_type_mask(probs, mask)
    assert out[0] == pytest.approx([1 / 3, 2 / 3, 0, 0])
    assert out[1] == pytest.approx([1 / 3, 0, 1 / 3, 1 / 3])
    assert out[2] == pytest.approx(probs[2])
    zero = apply_type_mask(np.array([[0.0, 0.0, 0.5, 0.5]]), mask[:1])
    assert zero[0] == pytest.approx([0.5, 0.5, 0, 0])
    with pytest.raises(ValueError):
        apply_type_mask(probs[:2], mask)


@pytest.mark.parametrize("model_type", ["roberta", "electra", "xlm-roberta"])
def test_other_encoder_families(tiny_model: Path, tmp_path: Path, model_type: str) -> None:
    """RoBERTa / ELECTRA / XLM-R encoders load through AutoModel and train with every head."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    kwargs = dict(vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64,
                  max_position_embeddings=130, pad_token_id=tok.pad_token_id)
    if model_type == "electra":
        kwargs["embedding_size"] = 16
    else:
        kwargs["type_vocab_size"] = 1
    config = AutoConfig.for_model(model_type, **kwargs)
    torch.manual_seed(0)
    base = tmp_path / model_type
    AutoModel.from_config(config).save_pretrained(base)
    tok.save_pretrained(base)
    cfg = TemplateConfig(marker="entity-marker", max_length=64)
    prepare_tokenizer(tok, cfg)
    batch = Collator(tok.pad_token_id)(encode_examples(synth_examples(4, seed=8), tok, cfg, DEFAULT_LABELS))
    for head in ("cls", "entity", "lstm"):
        model = build_model(base, head=head, num_labels=5, tokenizer=tok)
        assert model._use_token_types == (model_type == "electra")
        assert freeze_lower_layers(model, 1 / 3) == 1
        batch5 = dict(batch, labels=batch["labels"] % 5)
        logits = model(**batch5)
        build_loss("ce", 5)(logits, batch5["labels"]).backward()
        assert model.classifier.weight.grad.abs().sum() > 0
    model.eval()
    folder = save_model(model, tok, tmp_path / "saved", template=cfg, head="lstm", labels=[f"l{i}" for i in range(5)])
    loaded, _, meta = load_model(folder)
    assert meta["model_type"] == model.encoder.config.model_type
    with torch.no_grad():
        assert torch.allclose(model(**batch), loaded(**batch), atol=1e-6)


def test_activation_checkpointing_and_float32_loading(tiny_model: Path, tiny_batch, tmp_path: Path) -> None:
    """`--trainer gradient_checkpointing=true` reaches the encoder; a half-precision checkpoint loads as float32."""
    from transformers import AutoModel

    tok, _, batch = tiny_batch
    half = tmp_path / "half"
    AutoModel.from_pretrained(tiny_model).to(torch.float16).save_pretrained(half)
    tok.save_pretrained(half)
    model = build_model(half, head="entity", num_labels=len(DEFAULT_LABELS), tokenizer=tok)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    model.train()
    model.activation_checkpointing_enable()
    assert getattr(model.encoder, "is_activation_checkpointing", None) or model.encoder.is_gradient_checkpointing
    loss = model(**{k: v for k, v in batch.items() if k != "labels"}).logsumexp(-1).mean()
    loss.backward()
    assert model.classifier.weight.grad is not None and torch.isfinite(model.classifier.weight.grad).all()
