"""Korean particles that depend on the final consonant (batchim) of the word before them."""

from __future__ import annotations

#: (form after a final consonant, form after a vowel)
PARTICLE_PAIRS: tuple[tuple[str, str], ...] = (("으로", "로"), ("은", "는"), ("이", "가"), ("을", "를"), ("과", "와"))
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among final consonants


def final_consonant(word: str) -> int | None:
    """Index (1-27) of the final consonant of the word's last Hangul syllable, 0 for none, None if not Hangul."""
    last = word[-1:]
    if not last or not _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return None
    return (ord(last) - _HANGUL_FIRST) % 28


def particle_for(word: str, with_final: str, without_final: str) -> str:
    """The particle form that fits after `word` (words not ending in Hangul take the vowel form)."""
    final = final_consonant(word)
    if with_final == "으로" and final == _RIEUL:
        return without_final  # 서울로, not 서울으로
    return with_final if final else without_final


def _is_hangul(ch: str) -> bool:
    return bool(ch) and _HANGUL_FIRST <= ord(ch) <= _HANGUL_LAST


def fix_particle(word: str, rest: str) -> str:
    """`rest` (the text right after `word`) with a leading particle switched to the form `word` needs.

    Only a particle that stands alone (followed by a non-Hangul character or the end)
    is changed, so words that merely start with 이/은/... are left as they are.
    """
    for with_final, without_final in PARTICLE_PAIRS:
        for form in (with_final, without_final):
            if rest.startswith(form) and not _is_hangul(rest[len(form) : len(form) + 1]):
                if final_consonant(word) is None:
                    return rest  # no Hangul to decide from
                return particle_for(word, with_final, without_final) + rest[len(form) :]
    return rest
