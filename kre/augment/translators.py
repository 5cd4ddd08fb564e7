"""Machine translation behind one small interface, with retries and back-off for the real services.

A `Translator` turns a list of texts into a list of translations of the same length, or
raises `TranslationError`. It never returns a failure disguised as a translation (an
empty result, the service's quota warning, `None`): those raise too.

`LocalTranslator` runs a local seq2seq model (Marian, M2M100, NLLB) through transformers.
`DeepTranslator` adapts the keyless services of deep-translator (`google`, `mymemory`).
Each text is one request (deep-translator's own `translate_batch` is a loop of single
requests too); requests are spaced by `min_interval`, bounded by `timeout`, and retried
on rate limits and network errors with exponential back-off and jitter, at most
`max_tries` times per text.
"""

from __future__ import annotations

import queue
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, KreError

#: Translators that work without an API key (name -> deep-translator class name).
TRANSLATORS: dict[str, str] = {"google": "GoogleTranslator", "mymemory": "MyMemoryTranslator"}


@runtime_checkable
class Translator(Protocol):
    """Translates texts from one language to another."""

    #: Cache key part: which service (and settings) produced a translation.
    name: str

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translations of `texts`, in order; raises `TranslationError` when it cannot."""
        ...


class TranslationError(KreError):
    """A translation could not be obtained.

    `transient` is True when the service was unreachable or rate-limited past the retry
    budget (stop asking: the network is gone); False when this text cannot be translated.
    `partial` holds the translations finished before the failure (a prefix of the input).
    """

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        transient: bool,
        partial: Sequence[str] = (),
    ) -> None:
        super().__init__(message, hint)
        self.transient = transient
        self.partial = list(partial)


class Backoff:
    """Exponential back-off with full jitter: try k waits uniform(0.5, 1) * min(cap, base * 2**k)."""

    def __init__(
        self,
        *,
        max_tries: int = 5,
        base: float = 1.0,
        cap: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_tries < 1:
            raise ConfigError("max_tries must be at least 1")
        self.max_tries = max_tries
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (0-based)."""
        ceiling = min(self.cap, self.base * (2**attempt))
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def call(self, fn: Callable[[], str], is_transient: Callable[[BaseException], bool]) -> str:
        """Run `fn`, retrying transient failures; the last exception propagates."""
        for attempt in range(self.max_tries):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified below
                if not is_transient(exc) or attempt == self.max_tries - 1:
                    raise
                self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover


class _Timeout(Exception):
    """A request took longer than the timeout."""


def call_with_timeout(fn: Callable[[], Any], timeout: float | None) -> Any:
    """Run `fn` in a daemon thread and give up after `timeout` seconds (deep-translator sets none)."""
    if timeout is None:
        return fn()
    box: queue.Queue = queue.Queue(maxsize=1)

    def run() -> None:
        try:
            box.put((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.put((False, exc))

    threading.Thread(target=run, daemon=True, name="kre-translate").start()
    try:
        ok, value = box.get(timeout=timeout)
    except queue.Empty:
        raise _Timeout(f"no answer within {timeout:g}s") from None
    if ok:
        return value
    raise value


def is_transient_error(exc: BaseException) -> bool:
    """Rate limits, timeouts and network errors (worth a retry); not bad input or a missing translation."""
    if isinstance(exc, (_Timeout, ConnectionError, TimeoutError, OSError, _RateLimited)):
        return True
    name = type(exc).__name__
    if name in ("TooManyRequests", "RequestError", "ServerException"):
        return True
    try:
        import requests

        if isinstance(exc, requests.exceptions.RequestException):
            return True
    except ImportError:  # pragma: no cover
        pass
    return False


class _RateLimited(Exception):
    """The service answered with a quota warning instead of a translation."""


class _NoTranslation(Exception):
    """The service answered without a usable translation."""


_QUOTA_MARKERS = ("MYMEMORY WARNING", "YOU USED ALL AVAILABLE FREE TRANSLATIONS")
_REFUSAL_MARKERS = ("QUERY LENGTH LIMIT", "INVALID LANGUAGE PAIR", "PLEASE SELECT TWO DISTINCT LANGUAGES")


def checked_translation(text: str, result: Any) -> str:
    """The translation, or an exception when the service's answer is not one."""
    if isinstance(result, list):  # mymemory with return_all
        result = result[0] if result else None
    if not isinstance(result, str) or not result.strip():
        raise _NoTranslation(f"empty answer for {text[:40]!r}")
    upper = result.upper()
    if any(m in upper for m in _QUOTA_MARKERS):
        raise _RateLimited(result[:120])
    if any(m in upper for m in _REFUSAL_MARKERS):
        raise _NoTranslation(result[:120])
    return result


def describe_error(exc: BaseException) -> str:
    """A short description of a failure (no long URLs from requests)."""
    text = str(exc)
    host = re.search(r"host='([^']+)'", text)
    if host:
        reason = "name not resolved" if "resolve" in text.lower() or "name or service" in text.lower() else "connection failed"
        if "timed out" in text.lower():
            reason = "timed out"
        return f"{type(exc).__name__}: cannot reach {host.group(1)} ({reason})"
    return f"{type(exc).__name__}: {text}".strip().rstrip(":")[:200]


def _mymemory_code(code: str) -> str:
    from deep_translator.constants import MY_MEMORY_LANGUAGES_TO_CODES

    values = set(MY_MEMORY_LANGUAGES_TO_CODES.values())
    if code in values or code in MY_MEMORY_LANGUAGES_TO_CODES:
        return code
    for preferred in (f"{code}-{code.upper()}", f"{code}-GB", f"{code}-US"):
        if preferred in values:
            return preferred
    for value in sorted(values):
        if value.split("-")[0] == code:
            return value
    return code


class DeepTranslator:
    """A keyless deep-translator service (`google`, `mymemory`) with retries, back-off and a timeout."""

    def __init__(
        self,
        service: str = "google",
        *,
        max_tries: int = 5,
        backoff_base: float = 1.0,
        timeout: float | None = 30.0,
        min_interval: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        factory: Callable[[str, str], Any] | None = None,
    ) -> None:
        if service not in TRANSLATORS:
            raise ConfigError(f"unknown translator '{service}'", hint=f"choose one of: {', '.join(TRANSLATORS)}")
        self.service = service
        self.name = service
        self.backoff = Backoff(max_tries=max_tries, base=backoff_base, sleep=sleep, rng=rng)
        self.timeout = timeout
        self.min_interval = min_interval
        self.sleep = sleep
        self._factory = factory
        self._clients: dict[tuple[str, str], Any] = {}
        self._last_request = 0.0
        #: Requests sent (including retries).
        self.requests = 0

    def _client(self, source: str, target: str) -> Any:
        key = (source, target)
        if key not in self._clients:
            if self._factory is not None:
                self._clients[key] = self._factory(source, target)
            else:
                import deep_translator

                cls = getattr(deep_translator, TRANSLATORS[self.service])
                if self.service == "mymemory":
                    source, target = _mymemory_code(source), _mymemory_code(target)
                try:
                    self._clients[key] = cls(source=source, target=target)
                except Exception as exc:  # noqa: BLE001 - language errors from deep-translator
                    raise ConfigError(
                        f"{self.service} cannot translate {source} -> {target}: {exc}",
                        hint="use ISO language codes such as ko, en, ja",
                    ) from None
        return self._clients[key]

    def _request(self, client: Any, text: str) -> str:
        wait = self.min_interval - (time.monotonic() - self._last_request)
        if wait > 0:
            self.sleep(wait)
        self._last_request = time.monotonic()
        self.requests += 1
        return checked_translation(text, call_with_timeout(lambda: client.translate(text), self.timeout))

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translate texts one request each; raises TranslationError with the finished prefix."""
        client = self._client(source, target)
        done: list[str] = []
        for text in texts:
            try:
                done.append(self.backoff.call(lambda t=text: self._request(client, t), is_transient_error))
            except Exception as exc:  # noqa: BLE001 - becomes one TranslationError
                transient = is_transient_error(exc)
                what = describe_error(exc)
                if transient:
                    raise TranslationError(
                        f"{self.service} translator unreachable after {self.backoff.max_tries} tries ({what[:200]})",
                        hint="check the network or wait for the rate limit; translations so far are in the cache",
                        transient=True,
                        partial=done,
                    ) from None
                raise TranslationError(
                    f"{self.service} could not translate {text[:40]!r} ({what[:200]})", transient=False, partial=done
                ) from None
        return done


#: `--translator local:MODEL_OR_PATH` runs a seq2seq model through transformers.
LOCAL_PREFIX = "local:"
#: ISO 639-1 codes -> NLLB-200 codes (FLORES-200 style); M2M100 uses `__xx__` tokens.
NLLB_CODES: dict[str, str] = {
    "ko": "kor_Hang", "en": "eng_Latn", "ja": "jpn_Jpan", "zh": "zho_Hans", "fr": "fra_Latn", "de": "deu_Latn",
    "es": "spa_Latn", "ru": "rus_Cyrl", "vi": "vie_Latn", "it": "ita_Latn", "pt": "por_Latn", "id": "ind_Latn",
    "th": "tha_Thai", "ar": "arb_Arab", "hi": "hin_Deva", "tr": "tur_Latn", "nl": "nld_Latn", "pl": "pol_Latn",
}
#: model_type values of multilingual models that need source / target language codes.
MULTILINGUAL_TYPES = ("m2m_100", "nllb_moe", "mbart", "mbart50")


class LocalTranslator:
    """A local seq2seq translation model (Marian, M2M100, NLLB, mBART-50) through transformers.

    `spec` is a model folder or hub id; with `{src}` and `{tgt}` in it, one model per
    direction (Marian: `Helsinki-NLP/opus-mt-{src}-{tgt}`). Multilingual models get the
    source language code (tokenizer `src_lang`, or the code token put in front) and the
    target as `forced_bos_token_id`; codes are tried as given, as NLLB codes (ko -> kor_Hang)
    and as M2M100 tokens (`__ko__`). Texts are translated in batches of `batch_size`, on the
    GPU when there is one; an empty output raises `TranslationError` for that text.
    """

    def __init__(
        self,
        spec: str,
        *,
        batch_size: int = 16,
        num_beams: int = 4,
        max_length: int = 256,
        device: str | None = None,
    ) -> None:
        spec = spec.strip()
        if not spec:
            raise ConfigError("--translator local: needs a model, e.g. local:facebook/nllb-200-distilled-600M or local:PATH")
        if ("{src}" in spec) != ("{tgt}" in spec):
            raise ConfigError(f"--translator local:{spec}: use both {{src}} and {{tgt}} (one model per direction) or neither")
        self.spec = spec
        self.name = LOCAL_PREFIX + spec
        self.batch_size = max(1, batch_size)
        self.num_beams = num_beams
        self.max_length = max_length
        self.device = device
        self._models: dict[str, tuple[Any, Any]] = {}
        #: Calls to `model.generate` (one per batch).
        self.generate_calls = 0

    def model_ref(self, source: str, target: str) -> str:
        """The model that translates source -> target."""
        return self.spec.replace("{src}", source).replace("{tgt}", target)

    def _load(self, ref: str) -> tuple[Any, Any]:
        if ref in self._models:
            return self._models[ref]
        import os
        from pathlib import Path

        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        folder = Path(ref).expanduser()
        where = str(folder) if folder.exists() else ref
        local = folder.exists() or os.environ.get("HF_HUB_OFFLINE") == "1"
        hf_logging.set_verbosity_error()  # kre shows its own progress
        hf_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(where, local_files_only=local)
            model = AutoModelForSeq2SeqLM.from_pretrained(where, local_files_only=local)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(
                f"--translator local:{self.spec}: cannot load '{ref}' as a seq2seq translation model ({str(exc).splitlines()[0][:200]})",
                hint="give a local folder or hub id of a Marian, M2M100, NLLB or mBART-50 model; "
                "Marian translates one direction: use {src}/{tgt} in the name, e.g. local:Helsinki-NLP/opus-mt-{src}-{tgt}",
            ) from None
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device).eval()
        self._models[ref] = (tokenizer, model)
        return tokenizer, model

    @staticmethod
    def lang_token(tokenizer: Any, code: str) -> str | None:
        """The tokenizer's token for a language code (as given, NLLB style or M2M100 style), or None."""
        vocab = tokenizer.get_vocab()
        for candidate in (code, NLLB_CODES.get(code), f"__{code}__"):
            if candidate and candidate in vocab and candidate in tokenizer.all_special_tokens + list(tokenizer.get_added_vocab()):
                return candidate
        return None

    def _languages(self, tokenizer: Any, model: Any, source: str, target: str) -> tuple[int | None, int | None]:
        """(source code token id or None, forced BOS id or None) for a multilingual model."""
        if model.config.model_type not in MULTILINGUAL_TYPES and "{src}" in self.spec:
            return None, None
        src, tgt = self.lang_token(tokenizer, source), self.lang_token(tokenizer, target)
        if model.config.model_type not in MULTILINGUAL_TYPES and src is None and tgt is None:
            if source != target:  # a one-direction model (Marian) used both ways would translate garbage
                raise ConfigError(
                    f"--translator local:{self.spec}: a {model.config.model_type} model translates one direction, "
                    f"but back-translation needs {source} -> {target} and back",
                    hint="put {src} and {tgt} in the name, e.g. local:Helsinki-NLP/opus-mt-{src}-{tgt}",
                )
            return None, None
        for code, token in ((source, src), (target, tgt)):
            if token is None:
                raise ConfigError(
                    f"--translator local:{self.spec}: the tokenizer has no language code for '{code}' "
                    f"(tried {code}, {NLLB_CODES.get(code, '-')}, __{code}__)",
                    hint="use the model's language codes with --source-lang / --pivot",
                )
        if hasattr(tokenizer, "src_lang"):
            try:
                tokenizer.src_lang = source if src == f"__{source}__" else src
            except (KeyError, ValueError):
                pass
        return tokenizer.convert_tokens_to_ids(src), tokenizer.convert_tokens_to_ids(tgt)

    def _generate(self, tokenizer: Any, model: Any, texts: list[str], src_id: int | None, bos_id: int | None) -> list[str]:
        import torch

        enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        if src_id is not None and not bool((ids == src_id).any(dim=1).all()):  # tokenizer without src_lang support
            ids = torch.cat([torch.full((ids.shape[0], 1), src_id, dtype=ids.dtype), ids], dim=1)
            mask = torch.cat([torch.ones((mask.shape[0], 1), dtype=mask.dtype), mask], dim=1)
        kwargs: dict[str, Any] = {"num_beams": self.num_beams, "max_new_tokens": min(self.max_length, int(ids.shape[1] * 2) + 10)}
        if bos_id is not None:
            kwargs["forced_bos_token_id"] = bos_id
        self.generate_calls += 1
        with torch.inference_mode():
            out = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), **kwargs)
        return [t.strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translate in batches; an empty translation raises TranslationError with the finished prefix."""
        tokenizer, model = self._load(self.model_ref(source, target))
        src_id, bos_id = self._languages(tokenizer, model, source, target)
        done: list[str] = []
        for i in range(0, len(texts), self.batch_size):
            chunk = texts[i : i + self.batch_size]
            for text, out in zip(chunk, self._generate(tokenizer, model, chunk, src_id, bos_id)):
                if not out:
                    raise TranslationError(
                        f"{self.name} produced an empty translation of {text[:40]!r}", transient=False, partial=done
                    )
                done.append(out)
        return done


def make_translator(service: str, **kwargs: Any) -> Translator:
    """The translator for `google`, `mymemory` or `local:MODEL_OR_PATH`.

    `batch_size` is used by local models only; `max_tries` and `timeout` by the web services only.
    """
    batch_size = kwargs.pop("batch_size", 16)
    if service.startswith(LOCAL_PREFIX):
        return LocalTranslator(service[len(LOCAL_PREFIX) :], batch_size=batch_size)
    if service not in TRANSLATORS:
        raise ConfigError(
            f"unknown translator '{service}'", hint=f"choose one of: {', '.join(TRANSLATORS)}, or local:MODEL_OR_PATH"
        )
    return DeepTranslator(service, **kwargs)
