"""Shared fixtures: offline Hugging Face settings, a CLI runner, tiny models built on the fly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import synth_examples, write_examples

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _offline_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub access, a private HF cache, no KRE_ROOT from the user's shell."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.getbasetemp() / "hf_home"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("KRE_ROOT", raising=False)
    monkeypatch.delenv("KRE_DEBUG", raising=False)


class Runner:
    """Invokes the kre app in-process and records the command line like the console script does."""

    def __init__(self) -> None:
        from typer.testing import CliRunner

        self._runner = CliRunner()

    def __call__(self, *args: str | Path, ok: bool | None = None):
        from kre.artifacts import set_command_line
        from kre.cli import app

        argv = [str(a) for a in args]
        set_command_line(["kre", *argv])
        result = self._runner.invoke(app, argv)
        if ok is True and result.exit_code != 0:
            raise AssertionError(f"kre {' '.join(argv)} failed ({result.exit_code}):\n{result.output}\n{result.exception!r}")
        if ok is False and result.exit_code == 0:
            raise AssertionError(f"kre {' '.join(argv)} should have failed:\n{result.output}")
        return result


@pytest.fixture
def kre() -> Runner:
    """Run `kre ARGS...` in-process: `kre("split", path, ok=True)`."""
    return Runner()


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    """A valid labeled competition CSV of 120 synthetic rows (2 entity pairs per sentence)."""
    return write_examples(tmp_path / "train.csv", synth_examples(120, seed=1))



def _build_tiny_model(folder: Path) -> Path:
    """A 2-layer BERT with a WordPiece vocab trained on synthetic task text, saved as a HF folder."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast

    texts = [e.sentence for e in synth_examples(400, seed=3)]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], min_frequency=1
    )
    tok.train_from_iterator(texts, trainer)
    from tokenizers.processors import TemplateProcessing

    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=fast.pad_token_id,
    )
    import torch

    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny BERT masked-LM + fast WordPiece tokenizer (loads with AutoModel/AutoTokenizer)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    return _build_tiny_model(tmp_path_factory.mktemp("tiny_bert"))
