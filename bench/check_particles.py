"""Count entity-swap rows whose particle after the new entity does not fit it (KLUE-RE, issue 12 item 8).

    python bench/check_particles.py augments/0001-entity-swap/train.csv [--show 20]

A swapped row is wrong when the Hangul right after the swapped word starts with a particle
of the wrong form: 은/을/과/으로 after a vowel, 는/를/와/가/로 after a consonant, 으로 after ㄹ.
This prefix check is looser than the fixer's (it needs no stand-alone particle), so it also
catches compounds (으로부터, 와의, 로서 ...). The word's final sound is read with
`kre.korean.final_sound` (Hangul, digits, Latin letters); rows it cannot read are counted apart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kre.data import read_dataset
from kre.korean import final_sound

RIEUL = 8
AFTER_VOWEL_WRONG = ("은", "을", "과", "으로")
AFTER_CONSONANT_WRONG = ("는", "를", "와", "가", "로")


def hangul_run(text: str) -> str:
    end = 0
    while end < len(text) and 0xAC00 <= ord(text[end]) <= 0xD7A3:
        end += 1
    return text[:end]


def wrong_particle(word: str, after: str) -> bool | None:
    """True/False for a wrong/fitting particle after `word`, None when the word's end cannot be read."""
    final = final_sound(word)
    if final is None:
        return None
    tail = hangul_run(after)
    if final == 0:
        return tail.startswith(AFTER_VOWEL_WRONG)
    if final == RIEUL:
        return tail.startswith(("으로", "는", "를", "와", "가"))
    return tail.startswith(AFTER_CONSONANT_WRONG)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_csv", type=Path)
    parser.add_argument("--show", type=int, default=0, help="print this many wrong rows")
    args = parser.parse_args()
    rows = read_dataset(args.train_csv, strict=False).examples
    by_id = {r.id: r for r in rows}
    swapped = wrong = unreadable = 0
    shown: list[str] = []
    for r in rows:
        if r.extra.get("aug_method") != "entity-swap":
            continue
        parent = by_id.get(str(r.extra.get("aug_parent")))
        if parent is None:
            continue
        swapped += 1
        for entity, before in ((r.subject, parent.subject), (r.object, parent.object)):
            if entity.word == before.word:
                continue
            verdict = wrong_particle(entity.word, r.sentence[entity.end + 1 :])
            if verdict is None:
                unreadable += 1
            elif verdict:
                wrong += 1
                if len(shown) < args.show:
                    shown.append(f"{r.id}: {entity.word}{r.sentence[entity.end + 1 : entity.end + 8]!r}")
    print("\n".join(shown))
    print(f"{args.train_csv}: {swapped} swapped rows, {wrong} wrong particles ({100 * wrong / max(swapped, 1):.2f}%), "
          f"{unreadable} swapped words whose end cannot be read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
