"""Training-data augmentation: back-translation with protected entities, entity swap, AEDA, undersampling."""

from .cache import CachedTranslator, TranslationCache, default_cache_path
from .embedders import Embedder, SentenceTransformerEmbedder
from .pipeline import METHODS, run_augment
from .translators import DeepTranslator, TranslationError, Translator, make_translator

__all__ = [
    "METHODS",
    "CachedTranslator",
    "DeepTranslator",
    "Embedder",
    "SentenceTransformerEmbedder",
    "TranslationCache",
    "TranslationError",
    "Translator",
    "default_cache_path",
    "make_translator",
    "run_augment",
]
