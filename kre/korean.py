"""Korean particles that depend on the final consonant (batchim) of the word before them.

The final sound of a word is read as a Korean speaker reads it aloud:

- Hangul: the final consonant of the last syllable (`이순신` ends in ㄴ, `카카오` in a vowel).
- Digits: the reading of the number's end in Sino-Korean: 1 일, 2 이, 3 삼, 4 사, 5 오, 6 육,
  7 칠, 8 팔, 9 구; trailing zeros read as the power of ten: 10 십, 100 백, 1000 천,
  10⁴-10⁷ 만, 10⁸-10¹¹ 억, 10¹² 조; 0 alone 영 (`제95민사여단`, `1945년` end in Hangul anyway;
  `F-15` ends like 오).
- Latin letters: an all-capital word (an acronym) ends in the name of its last letter
  (`KBS` 에스, `SM` 엠, `LG` 지, `URL` 엘); other words by their spelling's last sound, the
  common loanword reading: `-ng` ㅇ, `-m`/`-me` ㅁ, `-n`/`-ne` ㄴ, `-l`/`-le` ㄹ, `-ck` ㄱ, `-k`/`-p` after a vowel ㄱ/ㅂ,
  everything else a vowel (`Twitter` 트위터, `Apple` 애플, `Google` 구글, `Facebook` 페이스북).
- `%` reads 퍼센트 and `°` 도; other trailing spaces, brackets, quotes and punctuation are
  skipped (`삼성(주)` reads like 주).
- Anything else (Chinese characters, symbols only) is unknown: particles are left as they are.
"""

from __future__ import annotations

#: (form after a final consonant, form after a vowel), longest first so compounds win.
PARTICLE_PAIRS: tuple[tuple[str, str], ...] = (
    ("으로부터", "로부터"),
    ("으로서의", "로서의"),
    ("으로서는", "로서는"),
    ("으로서도", "로서도"),
    ("으로써", "로써"),
    ("으로서", "로서"),
    ("으로는", "로는"),
    ("으로도", "로도"),
    ("으로의", "로의"),
    ("으로만", "로만"),
    ("으로", "로"),
    ("이라고", "라고"),
    ("이라는", "라는"),
    ("이라면", "라면"),
    ("이라", "라"),
    ("이나", "나"),
    ("이며", "며"),
    ("이랑", "랑"),
    ("이란", "란"),
    ("과의", "와의"),
    ("과는", "와는"),
    ("과도", "와도"),
    ("은", "는"),
    ("이", "가"),
    ("을", "를"),
    ("과", "와"),
)
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among final consonants

#: Sino-Korean reading of a last non-zero digit, and of trailing zeros (10^n).
_DIGIT_READING = {"0": "영", "1": "일", "2": "이", "3": "삼", "4": "사", "5": "오", "6": "육", "7": "칠", "8": "팔", "9": "구"}
_POWER_READING = {1: "십", 2: "백", 3: "천", 4: "만", 8: "억", 12: "조"}
#: Korean names of the Latin letters (acronyms are read letter by letter).
_LETTER_NAME = {
    "A": "에이", "B": "비", "C": "씨", "D": "디", "E": "이", "F": "에프", "G": "지", "H": "에이치", "I": "아이",
    "J": "제이", "K": "케이", "L": "엘", "M": "엠", "N": "엔", "O": "오", "P": "피", "Q": "큐", "R": "알",
    "S": "에스", "T": "티", "U": "유", "V": "브이", "W": "더블유", "X": "엑스", "Y": "와이", "Z": "제트",
}
#: Loanword reading of the end of a (non-acronym) Latin word, longest ending first.
_LATIN_ENDINGS = (("ng", "앙"), ("ck", "악"), ("le", "엘"), ("me", "엠"), ("ne", "엔"), ("m", "엠"), ("n", "엔"), ("l", "엘"))
#: Endings read with a final consonant only after a vowel letter (`book` 북, `group` 그룹; `network` 네트워크, `camp` 캠프).
_AFTER_VOWEL_ENDINGS = (("k", "악"), ("p", "압"))
#: Symbols read aloud at the end of a word.
_SYMBOL_READING = {"%": "트", "°": "도", "℃": "도"}


def final_consonant(word: str) -> int | None:
    """Index (1-27) of the final consonant of the word's last Hangul syllable, 0 for none, None if not Hangul."""
    last = word[-1:]
    if not last or not _HANGUL_FIRST <= ord(last) <= _HANGUL_LAST:
        return None
    return (ord(last) - _HANGUL_FIRST) % 28


def _is_hangul(ch: str) -> bool:
    return bool(ch) and _HANGUL_FIRST <= ord(ch) <= _HANGUL_LAST


def _is_latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _number_reading(digits: str) -> str:
    """The Hangul syllable a digit string ends with when read aloud (`15` -> 오, `2020` -> 십)."""
    stripped = digits.rstrip("0")
    if stripped:
        zeros = len(digits) - len(stripped)
        if zeros == 0:
            return _DIGIT_READING[digits[-1]]
        power = max(p for p in _POWER_READING if p <= zeros)
        return _POWER_READING[power]
    return _DIGIT_READING["0"]


def _latin_reading(letters: str) -> str:
    """The Hangul a Latin word ends with when read aloud (acronyms by letter name, words by ending)."""
    if letters.isupper() or len(letters) == 1:
        return _LETTER_NAME[letters[-1].upper()]
    lower = letters.lower()
    for ending, reading in _LATIN_ENDINGS:
        if lower.endswith(ending):
            return reading
    for ending, reading in _AFTER_VOWEL_ENDINGS:
        if lower.endswith(ending) and lower[-2:-1] in tuple("aeiou"):
            return reading
    return "아"


def final_sound(word: str) -> int | None:
    """Final consonant index (0 = vowel) of `word` as read aloud, None when it cannot be told.

    Hangul, digits and Latin letters are read as the module docstring says; trailing
    spaces and punctuation are skipped.
    """
    end = len(word.rstrip())
    if end and word[end - 1] in _SYMBOL_READING:
        return final_consonant(_SYMBOL_READING[word[end - 1]])
    while end and not (word[end - 1].isalnum()):
        end -= 1
    if not end:
        return None
    last = word[end - 1]
    if _is_hangul(last):
        return final_consonant(last)
    if last.isascii() and last.isdigit():
        start = end
        while start and word[start - 1].isascii() and word[start - 1].isdigit():
            start -= 1
        return final_consonant(_number_reading(word[start:end]))
    if _is_latin(last):
        start = end
        while start and _is_latin(word[start - 1]):
            start -= 1
        return final_consonant(_latin_reading(word[start:end]))
    return None


def particle_for(word: str, with_final: str, without_final: str) -> str:
    """The particle form that fits after `word` (a word whose end cannot be read takes the vowel form)."""
    final = final_sound(word)
    if with_final.startswith("으로") and final == _RIEUL:
        return without_final  # 서울로, not 서울으로
    return with_final if final else without_final


def fix_particle(word: str, rest: str) -> str:
    """`rest` (the text right after `word`) with a leading particle switched to the form `word` needs.

    Compound particles (`으로부터`, `와의`, `로서` ...) are matched whole. Only a particle
    that stands alone (followed by a non-Hangul character or the end) is changed, so words
    that merely start with 이/은/... are left as they are. Nothing changes when the end of
    `word` cannot be read (see `final_sound`).
    """
    if final_sound(word) is None:
        return rest
    for with_final, without_final in PARTICLE_PAIRS:
        for form in (with_final, without_final):
            if rest.startswith(form) and not _is_hangul(rest[len(form) : len(form) + 1]):
                return particle_for(word, with_final, without_final) + rest[len(form) :]
    return rest
