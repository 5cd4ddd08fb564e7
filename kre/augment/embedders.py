"""Sentence embeddings behind one small interface, for similarity filtering."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors (one row per text)."""

    name: str

    def encode(self, texts: list[str]) -> Any:
        """An array of shape (len(texts), dim)."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder or a hub id (loaded on first use).

    A plain Hugging Face encoder folder works too: sentence-transformers adds mean pooling.
    """

    def __init__(self, name_or_path: str | Path, *, batch_size: int = 64, device: str | None = None) -> None:
        self.name = str(name_or_path)
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            import logging

            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()  # no load reports / missing-pooler notes on the console
            hf_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(self.name, device=self.device)
            except Exception as exc:  # noqa: BLE001 - any load failure is one line
                raise ConfigError(
                    f"cannot load embedder '{self.name}' ({type(exc).__name__}: {str(exc)[:200]})",
                    hint="pass --embedder a local sentence-transformers or Hugging Face model folder (no hub here)",
                ) from None
            finally:
                hf_logging.set_verbosity(level)
                hf_logging.enable_progress_bar()
        return self._model

    def encode(self, texts: list[str]) -> Any:
        model = self._load()
        return model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)


def cosine_pairs(embedder: Embedder, left: list[str], right: list[str]) -> list[float]:
    """Cosine similarity of left[i] and right[i] for every i."""
    import numpy as np

    if not left:
        return []
    vectors = np.asarray(embedder.encode(list(left) + list(right)), dtype=np.float64)
    a, b = vectors[: len(left)], vectors[len(left) :]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    sims = np.einsum("ij,ij->i", a, b) / np.where(norms == 0, 1.0, norms)
    return [float(s) for s in sims]
