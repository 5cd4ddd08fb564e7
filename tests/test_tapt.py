"""`kre tapt`: text collection, whole-word masking, the MLM loop, resume, and the published model folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_examples, unlabeled, write_examples
from kre.artifacts import ArtifactStore, load_artifact
from kre.tapt import run_tapt
from kre.engine.sampling import LengthGroupedSampler, length_grouped_batches
from kre.tapt.masking import SPECIAL, MaskCollator, choose_masked, encode_texts
from kre.tapt.texts import collect_texts

# A tiny from-scratch model: trains in a second or two on ~200 synthetic sentences.
TINY = dict(from_scratch=True, vocab_size=300, layers=2, hidden=32, heads=2, max_length=64, batch_size=16, lr=3e-3)


def _sentences(n: int, seed: int = 0) -> list[str]:
    return list(dict.fromkeys(e.sentence for e in synth_examples(n, seed=seed)))


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(_sentences(400, seed=5)) + "\n", encoding="utf-8")
    return path


def _make_split(root: Path, seed: int = 11) -> Path:
    """A splits/ artifact as `kre split` writes it (train.csv + valid.csv)."""
    examples = synth_examples(160, seed=seed)
    store = ArtifactStore(root)
    with store.create("splits", "test", params={"seed": 0, "valid_size": 0.2, "folds": None, "dedupe": True}, seed=0) as b:
        write_examples(b.path / "train.csv", examples[:120])
        write_examples(b.path / "valid.csv", examples[120:])
    assert b.published is not None
    return b.published.path


def _published(root: Path) -> list[Path]:
    return ArtifactStore(root).list("tapt")


# -- masking -------------------------------------------------------------------------


def test_whole_word_masking_masks_all_pieces_of_a_word(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = ["이순신장군은 국립중앙박물관에서 엘지화학과 현대자동차를 만났다.", *_sentences(40, seed=2)]
    enc = encode_texts(tok, texts, max_length=64, whole_word=True, cache_dir=tiny_model.parent / "cache")
    assert enc.scheme.startswith("whole-word")
    word_lists = enc.dataset["word_ids"][:5]
    words = word_lists[0]
    multi = [w for w in set(words) if w != SPECIAL and words.count(w) > 1]
    assert multi, "the test sentence should contain words split into several pieces"
    masked_multi = 0
    for seed in range(200):
        for word_ids in word_lists:
            chosen = set(choose_masked(word_ids, 0.15, np.random.default_rng(seed)))
            assert chosen, "at least one word is always chosen"
            for w in set(word_ids) - {SPECIAL}:
                positions = {p for p, x in enumerate(word_ids) if x == w}
                assert positions <= chosen or not (positions & chosen), f"word {w} partly masked"
                if len(positions) > 1 and positions <= chosen:
                    masked_multi += 1
            assert not any(word_ids[p] == SPECIAL for p in chosen)
    assert masked_multi > 0


def test_token_masking_and_mask_rate(tiny_model: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = _sentences(200, seed=4)
    enc = encode_texts(tok, texts, max_length=64, whole_word=False, cache_dir=tmp_path)
    assert enc.scheme == "token"
    collator = MaskCollator(tok, 0.15)
    features = [enc.dataset[i] for i in range(64)]
    batch = collator(features)
    labels, ids = batch["labels"], batch["input_ids"]
    real = batch["attention_mask"].bool()
    predicted = labels != -100
    rate = float(predicted.sum()) / float(real.sum())
    assert 0.08 < rate < 0.2  # specials count in `real` but are never predicted
    assert not predicted[~real].any(), "padding is never predicted"
    assert (labels[predicted] == labels[predicted]).all()
    replaced = ids[predicted] == tok.mask_token_id
    assert 0.6 < float(replaced.float().mean()) < 0.95  # ~80% become [MASK]
    unmasked = ~predicted & real
    assert (ids[unmasked] != tok.mask_token_id).all()
    # masks depend on (seed, epoch, text) only: the same again, new ones next epoch, fixed ones for held-out
    again = collator(features)
    assert (again["input_ids"] == ids).all() and (again["labels"] == labels).all()
    collator.set_epoch(1)
    assert not (collator(features)["labels"] == labels).all()
    held = MaskCollator(tok, 0.15, fixed=True)
    first = held(features)["labels"]
    held.set_epoch(3)
    assert (held(features)["labels"] == first).all()


def test_encodings_are_cached_by_fingerprint(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoTokenizer

    import kre.tapt.masking as masking

    tok = AutoTokenizer.from_pretrained(tiny_model)
    texts = _sentences(120, seed=6)
    first = encode_texts(tok, texts, max_length=64, cache_dir=tmp_path)
    assert not first.cached and len(list(tmp_path.glob("tapt-*.arrow"))) == 1
    monkeypatch.setattr(masking, "_words_of", lambda *a: pytest.fail("encoded again"))
    second = encode_texts(tok, texts, max_length=64, cache_dir=tmp_path)
    assert second.cached and second.dataset["input_ids"] == first.dataset["input_ids"]
    assert second.dataset["idx"] == list(range(len(texts)))
    monkeypatch.undo()
    shorter = encode_texts(tok, texts, max_length=16, cache_dir=tmp_path)  # other options: another file
    assert not shorter.cached and max(shorter.dataset["length"]) == 16
    assert len(list(tmp_path.glob("tapt-*.arrow"))) == 2


def test_length_grouped_batches_cover_every_text_once() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 100, size=203))
    batches = length_grouped_batches(lengths, 8, np.random.default_rng(1), mega=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(203))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 40  # grouped: far below the ~95 of random batches


def test_sampler_order_depends_on_seed_and_epoch_only() -> None:
    lengths = list(np.random.default_rng(0).integers(5, 100, size=203))
    epochs: list[int] = []
    sampler = LengthGroupedSampler(lengths, 8, seed=3, on_epoch=epochs.append)
    order = list(sampler)
    assert sorted(order) == list(range(203)) and len(sampler) == 203
    assert lengths[order[0]] == max(lengths)  # the longest batch first: an OOM shows at once
    batches = [order[k : k + 8] for k in range(0, 203, 8)]
    assert all(len(b) == 8 for b in batches[:-1])  # the short batch is last, so batches stay aligned
    assert np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]) < 40
    assert list(LengthGroupedSampler(lengths, 8, seed=3)) == order
    sampler.set_epoch(1)
    assert epochs == [1] and list(sampler) != order


def test_fast_masked_loss_equals_full_model_loss(tiny_model: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from kre.tapt.trainer import _FullForward, mlm_loss

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForMaskedLM.from_pretrained(tiny_model).eval()
    enc = encode_texts(tok, _sentences(30), max_length=64, cache_dir=tmp_path)
    batch = MaskCollator(tok, 0.2, seed=3)([enc.dataset[i] for i in range(12)])
    n = int((batch["labels"] != -100).sum())
    with torch.no_grad():
        fast = float(mlm_loss(model, batch))
        full = float(model(**batch).loss)
        summed = float(mlm_loss(model, batch, num_items=n))
        wrapped = float(mlm_loss(_FullForward(model), batch))
    assert fast == pytest.approx(full, rel=1e-5)
    assert summed == pytest.approx(full, rel=1e-5) and wrapped == pytest.approx(full, rel=1e-5)


# -- texts -----------------------------------------------------------------------------


def test_texts_from_split_artifact(tmp_path: Path) -> None:
    split = _make_split(tmp_path)
    store = ArtifactStore(tmp_path)
    train_sentences = {e.sentence for e in synth_examples(160, seed=11)[:120]}
    valid_sentences = {e.sentence for e in synth_examples(160, seed=11)[120:]}
    got = collect_texts(["splits/latest"], store=store)
    assert set(got.texts) == train_sentences
    assert len(got.texts) == len(train_sentences) < got.read  # pairs share sentences: deduplicated
    with_valid = collect_texts([str(split)], store=store, include_valid=True)
    assert set(with_valid.texts) == train_sentences | valid_sentences
    assert [s.role for s in with_valid.sources] == ["split_train", "split_valid"]


def test_texts_from_files(tmp_path: Path, train_csv: Path) -> None:
    from kre.data import write_jsonl

    test_examples = unlabeled(synth_examples(30, seed=9))
    jsonl = tmp_path / "test.jsonl"
    write_jsonl(jsonl, test_examples)
    txt = tmp_path / "extra.txt"
    txt.write_text("외부 문장 하나\n\n  외부 문장 둘  \n외부 문장 하나\n", encoding="utf-8")
    got = collect_texts([train_csv], store=ArtifactStore(tmp_path), extra=[jsonl, txt])
    train_sentences = list(dict.fromkeys(e.sentence for e in synth_examples(120, seed=1)))
    assert got.texts[: len(train_sentences)] == train_sentences
    assert "외부 문장 둘" in got.texts and got.texts.count("외부 문장 하나") == 1
    assert set(e.sentence for e in test_examples) <= set(got.texts)
    assert [s.role for s in got.sources] == ["data", "extra", "extra"]


# -- training and the artifact -----------------------------------------------------------


def test_from_scratch_model_loads_and_heldout_loss_drops(tmp_path: Path, text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer

    monkeypatch.delenv("KRE_CACHE", raising=False)
    artifact = run_tapt(sources=[text_file], root=tmp_path, epochs=6, seed=1, **TINY)
    assert len(list((tmp_path / ".cache" / "encodings").glob("tapt-*.arrow"))) == 1  # beside kre train's encodings
    assert artifact.kind == "tapt" and artifact.path.parent == tmp_path / "tapt"
    artifact.verify()
    m = artifact.metrics
    assert m["heldout_loss_after"] < m["heldout_loss_before"] - 1.0, m
    assert m["final_loss"] < 0.8 * json.loads(artifact.file("tapt_metrics.json").read_text())["log"][0]["loss"]
    metrics = json.loads(artifact.file("tapt_metrics.json").read_text())
    assert metrics["masking"].startswith("whole-word")
    assert metrics["log"][-1]["step"] == metrics["steps"] == m["steps"] == 60  # 6 epochs x 10 batches of 16
    assert artifact.file("loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    published = {p.name for p in artifact.path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tapt_metrics.json", "loss_curve.png"} <= published
    leftovers = {"checkpoints", "_tokenizer", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "training_args.bin"}
    assert not published & leftovers, published  # a clean model folder: no optimizer, RNG or trainer state
    assert artifact.params["from_scratch"] is True and artifact.params["vocab_size"] == 300
    assert artifact.inputs[0]["role"] == "data" and artifact.inputs[0]["sha256"]

    tok = AutoTokenizer.from_pretrained(artifact.path)
    sentence = text_file.read_text(encoding="utf-8").splitlines()[0]
    enc = tok(sentence, "이순신과 서울의 관계", return_tensors="pt")
    assert enc["input_ids"][0, 0] == tok.cls_token_id and set(enc["token_type_ids"][0].tolist()) == {0, 1}
    first = [i for i, t in zip(enc["input_ids"][0].tolist(), enc["token_type_ids"][0].tolist()) if t == 0]
    assert tok.unk_token_id not in first  # every character of the training text is in the vocabulary
    mlm = AutoModelForMaskedLM.from_pretrained(artifact.path)
    assert mlm.config.num_hidden_layers == 2 and mlm.config.hidden_size == 32
    assert mlm.config.max_position_embeddings >= 256
    assert AutoModel.from_pretrained(artifact.path)(**enc).last_hidden_state.shape[-1] == 32


def test_continued_pretraining_from_tiny_model_via_cli(kre, tmp_path: Path, tiny_model: Path) -> None:
    split = _make_split(tmp_path)
    test_csv = write_examples(tmp_path / "test.csv", unlabeled(synth_examples(40, seed=21)))
    res = kre("tapt", split, "--extra", test_csv, "--model", tiny_model, "--max-steps", "25", "--epochs", "10", "--lr", "3e-3",
              "--batch-size", "8", "--root", tmp_path, "--name", "tiny", ok=True)
    assert "Wrote" in res.output
    [folder] = _published(tmp_path)
    artifact = load_artifact(folder)
    assert artifact.id.startswith("tapt/0001-tiny")
    assert artifact.metrics["steps"] == 25
    assert artifact.metrics["heldout_loss_after"] < artifact.metrics["heldout_loss_before"]
    roles = {i["role"]: i for i in artifact.inputs}
    assert roles["texts"]["artifact"].startswith("splits/") and roles["extra"]["sha256"]
    assert roles["base_model"]["path"] == str(tiny_model)
    assert artifact.params["model"] == str(tiny_model) and "vocab_size" not in artifact.params
    # the tapt artifact is itself a --model reference: continue from it by id
    again = run_tapt(sources=[split], root=tmp_path, model="tapt/latest", max_steps=3, batch_size=8)
    assert {i["role"]: i for i in again.inputs}["base_model"]["artifact"] == artifact.id
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    AutoTokenizer.from_pretrained(again.path)
    AutoModelForMaskedLM.from_pretrained(again.path)


def test_time_budget_stops_early_and_still_publishes(tmp_path: Path, text_file: Path) -> None:
    """A 1.2-second budget (with CPU bf16 autocast) ends a 50-epoch run early; the lr still decays to ~0."""
    artifact = run_tapt(sources=[text_file], root=tmp_path, epochs=50, time_budget=0.02, bf16=True, **TINY)
    metrics = json.loads(artifact.file("tapt_metrics.json").read_text())
    assert metrics["stopped_by_time"] is True
    assert 0 < metrics["steps"] < metrics["total_steps"] == 500
    assert metrics["log"][-1]["step"] == metrics["steps"]
    assert metrics["log"][-1]["learning_rate"] < 0.5 * TINY["lr"]  # decayed by time (the last step starts near the budget)
    assert artifact.params["time_budget_min"] == 0.02 and artifact.params["bf16"] is True


def _crash_after_checkpoints(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Make the n-th checkpoint save of the next run raise once it is written."""
    from transformers import Trainer

    original = Trainer._save_checkpoint
    calls: list[int] = []

    def save_then_crash(self, *args, **kw):
        original(self, *args, **kw)
        calls.append(1)
        if len(calls) == n:
            raise RuntimeError("simulated crash")

    monkeypatch.setattr(Trainer, "_save_checkpoint", save_then_crash)


def _staging(root: Path) -> list[Path]:
    folder = root / "tapt"
    return [p for p in folder.iterdir() if p.name.startswith(".staging-")] if folder.is_dir() else []


def test_resume_continues_from_checkpoint_exactly(tmp_path: Path, tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(_sentences(300, seed=8)), encoding="utf-8")
    kwargs = dict(sources=[texts], model=str(tiny_model), epochs=3, batch_size=16, lr=3e-3, seed=3, save_every=10, threads=1)
    reference = run_tapt(root=tmp_path / "ref", **kwargs)

    root = tmp_path / "run"
    with monkeypatch.context() as m:
        _crash_after_checkpoints(m, 2)
        with pytest.raises(RuntimeError, match="simulated crash"):
            run_tapt(root=root, **kwargs)
    assert _published(root) == []
    [staging] = _staging(root)
    [checkpoint] = (staging / "checkpoints").iterdir()  # save_total_limit 1: only the last is kept
    assert checkpoint.name == "checkpoint-20"
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == 20

    resumed = run_tapt(root=root, resume=True, **kwargs)
    assert resumed.manifest["resumed_from_step"] == 20 and resumed.metrics["steps"] == reference.metrics["steps"]
    ref_log = json.loads(reference.file("tapt_metrics.json").read_text())["log"]
    log = json.loads(resumed.file("tapt_metrics.json").read_text())["log"]
    assert [e["step"] for e in log] == [e["step"] for e in ref_log]
    assert [e["loss"] for e in log] == pytest.approx([e["loss"] for e in ref_log], rel=1e-4)
    assert resumed.metrics["heldout_loss_after"] == pytest.approx(reference.metrics["heldout_loss_after"], rel=1e-4)
    assert _staging(root) == []


def test_resume_from_scratch_keeps_the_tokenizer(tmp_path: Path, text_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs = dict(sources=[text_file], epochs=4, seed=3, save_every=10, threads=1, **TINY)

    def crash() -> None:
        with monkeypatch.context() as m:
            _crash_after_checkpoints(m, 1)
            with pytest.raises(RuntimeError):
                run_tapt(root=tmp_path, **kwargs)

    crash()
    fresh = run_tapt(root=tmp_path, **kwargs)  # without --resume the stale checkpoint is not used
    assert fresh.manifest["resumed_from_step"] == 0 and _staging(tmp_path) == []
    crash()
    [staging] = _staging(tmp_path)
    vocab = json.loads((staging / "_tokenizer" / "tokenizer.json").read_text())["model"]["vocab"]
    resumed = run_tapt(root=tmp_path, resume=True, **kwargs)
    assert resumed.manifest["resumed_from_step"] == 10
    assert json.loads(resumed.file("tokenizer.json").read_text())["model"]["vocab"] == vocab
    assert resumed.metrics["heldout_loss_after"] < resumed.metrics["heldout_loss_before"]


@pytest.mark.parametrize(
    "case",
    ["missing", "no_sentence_column", "bad_suffix", "fp16_cpu", "both_models", "no_model", "too_few", "not_utf8", "wrong_artifact"],
)
def test_bad_input_exits_1_without_artifact(kre, tmp_path: Path, train_csv: Path, case: str) -> None:
    args: list[str | Path] = [train_csv, "--from-scratch"]
    expected = ""
    if case == "missing":
        args, expected = [tmp_path / "nope.csv", "--from-scratch"], "nope.csv: file not found"
    elif case == "no_sentence_column":
        bad = tmp_path / "bad.csv"
        bad.write_text("id,text\n0,문장\n", encoding="utf-8")
        args, expected = [bad, "--from-scratch"], "missing column(s)"
    elif case == "bad_suffix":
        bad = tmp_path / "bad.parquet"
        bad.write_bytes(b"x")
        args, expected = [bad, "--from-scratch"], "unknown file type"
    elif case == "fp16_cpu":
        args, expected = [*args, "--fp16"], "--fp16 needs a CUDA GPU"
    elif case == "both_models":
        args, expected = [*args, "--model", "x"], "either --model or --from-scratch"
    elif case == "no_model":
        args, expected = [train_csv], "no model given"
    elif case == "too_few":
        few = tmp_path / "few.txt"
        few.write_text("하나\n둘\n하나\n", encoding="utf-8")
        args, expected = [few, "--from-scratch"], "only 2 distinct text(s)"
    elif case == "not_utf8":
        bad = tmp_path / "bad.txt"
        bad.write_bytes("첫 줄\n".encode() + "둘째 줄\n".encode("cp949"))
        args, expected = [bad, "--from-scratch"], "bad.txt: row 2: not valid UTF-8"
    elif case == "wrong_artifact":
        store = ArtifactStore(tmp_path)
        with store.create("eda", "x", params={}) as b:
            (b.path / "report.md").write_text("x", encoding="utf-8")
        args, expected = ["eda/latest", "--from-scratch"], "is a 'eda' artifact"
    res = kre("tapt", *args, "--root", tmp_path, ok=False)
    assert res.exit_code == 1, res.output
    assert expected in " ".join(res.output.split()), res.output
    assert _published(tmp_path) == [] and _staging(tmp_path) == []


# -- the Trainer engine: overrides, precision, NaN guard, progress, use in kre train ----------------


def test_trainer_overrides_are_applied_and_recorded(kre, tmp_path: Path, text_file: Path) -> None:
    config = tmp_path / "tapt.toml"
    config.write_text("epochs = 2\n[trainer]\nmax_grad_norm = 0.5\nlogging_steps = 3\n", encoding="utf-8")
    res = kre("tapt", text_file, "--from-scratch", "--vocab-size", "300", "--layers", "1", "--hidden", "32", "--heads", "2",
              "--max-length", "64", "--batch-size", "32", "--config", config, "--trainer", "optim=adafactor",
              "--trainer", "logging_steps=2", "--root", tmp_path, ok=True)
    [folder] = _published(tmp_path)
    artifact = load_artifact(folder)
    assert artifact.params["trainer"] == {"max_grad_norm": 0.5, "logging_steps": 2, "optim": "adafactor"}
    assert artifact.params["epochs"] == 2
    log = json.loads(artifact.file("tapt_metrics.json").read_text())["log"]
    assert [e["step"] for e in log][:3] == [2, 4, 6]  # the command line wins over the [trainer] table
    assert "MLM training: step" in res.output  # no terminal: plain progress lines


def test_unknown_trainer_key_is_one_line_and_writes_nothing(kre, tmp_path: Path, text_file: Path) -> None:
    res = kre("tapt", text_file, "--from-scratch", "--trainer", "gradient_checkpoint=true", "--root", tmp_path, ok=False)
    assert res.exit_code == 1
    assert "did you mean gradient_checkpointing" in " ".join(res.output.split())
    assert _published(tmp_path) == [] and _staging(tmp_path) == []


def test_half_precision_checkpoint_loads_in_float32(tmp_path: Path, tiny_model: Path) -> None:
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from kre.tapt.model import load_base_model

    half = tmp_path / "half"
    AutoModelForMaskedLM.from_pretrained(tiny_model).to(torch.float16).save_pretrained(half)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(half)
    loaded = load_base_model(str(half), ArtifactStore(tmp_path))
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}


def test_a_persisting_nan_loss_stops_training_and_publishes_nothing(
    tmp_path: Path, text_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kre.tapt.trainer as trainer_mod
    from kre.errors import TrainingError

    real = trainer_mod.mlm_loss
    calls: list[int] = []

    def nan_after_three(model, batch, num_items=None):
        loss = real(model, batch, num_items)
        calls.append(1)
        return loss * float("nan") if model.training and len(calls) > 3 else loss

    monkeypatch.setattr(trainer_mod, "mlm_loss", nan_after_three)
    with pytest.raises(TrainingError, match="NaN/inf"):
        run_tapt(sources=[text_file], root=tmp_path, epochs=5, log_every=1, **TINY)
    assert _published(tmp_path) == []


def test_tapt_artifact_is_a_model_for_kre_train(kre, tmp_path: Path, text_file: Path) -> None:
    split = _make_split(tmp_path)
    tapt = run_tapt(sources=[split], root=tmp_path, epochs=1, **{**TINY, "max_length": 128})
    kre("train", "splits/latest", "--model", tapt.id, "--max-steps", "2", "--batch-size", "8", "--eval-batch-size", "16",
        "--max-length", "64", "--root", tmp_path, ok=True)
    [run] = ArtifactStore(tmp_path).list("runs")
    assert {i["role"]: i for i in load_artifact(run).inputs}.get("model", {}).get("artifact") == tapt.id


# -- DDP (torchrun, gloo on CPU) ------------------------------------------------------------


def _torchrun(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *map(str, args)]


def _ddp_env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")


@pytest.mark.slow
def test_tapt_under_torchrun_publishes_one_artifact(tmp_path: Path, text_file: Path) -> None:
    """Both ranks train; only rank 0 trains the tokenizer, writes and publishes; rank 1 prints nothing."""
    root = tmp_path / "root"
    options = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items() if k != "from_scratch"]
    cmd = _torchrun("-m", "kre", "tapt", text_file, "--from-scratch", *options, "--epochs", "1", "--time-budget", "0",
                    "--root", root)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=_ddp_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [folder] = _published(root)  # exactly one artifact: only rank 0 writes
    assert _staging(root) == []
    assert proc.stdout.count("Wrote") == 1 and proc.stdout.count("held-out MLM loss after") == 1
    assert proc.stderr.count("Training a WordPiece tokenizer") == 1
    artifact = load_artifact(folder)
    artifact.verify()
    assert artifact.params["world_size"] == 2 and artifact.params["effective_batch_size"] == 2 * TINY["batch_size"]
    m = artifact.metrics
    train_texts = json.loads((folder / "tapt_metrics.json").read_text())["train_texts"]
    assert m["steps"] == -(-train_texts // (2 * TINY["batch_size"]))  # one epoch, each rank a half of the batches
    assert np.isfinite(m["heldout_loss_before"]) and np.isfinite(m["heldout_loss_after"])
    first = json.loads((folder / "tapt_metrics.json").read_text())["log"][0]
    assert first["step"] == 1 and 0.8 < first["loss"] / m["heldout_loss_before"] < 1.2  # the loss over both ranks' tokens
    assert not {"checkpoints", "_tokenizer"} & {p.name for p in folder.iterdir()}
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    mlm = AutoModelForMaskedLM.from_pretrained(folder)
    assert mlm.config.hidden_size == TINY["hidden"] and len(tok) <= TINY["vocab_size"]
    assert mlm(**tok("이순신과 서울의 관계", return_tensors="pt")).logits.isfinite().all()


_PROBE = """
import json, os, sys
from pathlib import Path

import kre.tapt.pretrain as pretrain

out, options = Path(sys.argv[1]), json.loads(sys.argv[2])
real = pretrain.train_mlm


def spy(trainer, **kwargs):
    result = real(trainer, **kwargs)
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights = float(sum(p.detach().double().abs().sum() for p in model.parameters()))
    record = {"world_size": trainer.args.world_size, "steps": result.steps, "total": result.total_steps, "stopped": result.stopped_by_time,
              "lrs": [e["learning_rate"] for e in result.log], "weights": weights}
    (out / f"rank{os.environ['RANK']}.json").write_text(json.dumps(record))
    return result


pretrain.train_mlm = spy
pretrain.run_tapt(**options)
"""


@pytest.mark.slow
def test_time_budget_under_torchrun_stops_every_rank_at_the_same_step(tmp_path: Path, text_file: Path) -> None:
    """A time-budgeted 2-process run ends on both ranks at the same step, with the same learning
    rates (time-decayed from rank 0's clock) and the same weights; no hang."""
    probe = tmp_path / "probe.py"
    probe.write_text(_PROBE, encoding="utf-8")
    options = dict(TINY, sources=[str(text_file)], root=str(tmp_path / "root"), epochs=50, time_budget=0.03,
                   log_every=1, threads=1)
    proc = subprocess.run(_torchrun(probe, tmp_path, json.dumps(options)), capture_output=True, text=True, timeout=240,
                          env=_ddp_env(), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["stopped"] and rank1["stopped"]
    assert rank0["steps"] == rank1["steps"] < rank0["total"]
    assert rank0["lrs"] == rank1["lrs"] and len(rank0["lrs"]) == rank0["steps"]
    assert rank0["lrs"][-1] < max(rank0["lrs"])  # decayed
    assert rank0["weights"] == rank1["weights"]
    [folder] = _published(tmp_path / "root")
    metrics = json.loads((folder / "tapt_metrics.json").read_text())
    assert metrics["stopped_by_time"] is True and metrics["steps"] == rank0["steps"] and metrics["world_size"] == 2
