"""The tiny-model fixture itself loads offline through the Auto classes."""

from pathlib import Path


def test_tiny_model_loads_offline(tiny_model: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModel.from_pretrained(tiny_model)
    enc = tok("이순신은 1545년에 태어났다.", return_tensors="pt")
    assert tok.unk_token_id not in enc["input_ids"][0, 1:-1].tolist()[:2]
    out = model(**enc)
    assert out.last_hidden_state.shape[-1] == 32
