"""Korean particle choice after swapped entity words."""

from __future__ import annotations

import pytest

from kre.korean import final_consonant, fix_particle, particle_for


def test_final_consonant() -> None:
    assert final_consonant("이순신") == 4  # ㄴ
    assert final_consonant("카카오") == 0
    assert final_consonant("서울") == 8  # ㄹ
    assert final_consonant("MBC") is None and final_consonant("") is None


@pytest.mark.parametrize(
    ("word", "rest", "expected"),
    [
        ("방민아", "은 가수다.", "는 가수다."),
        ("이순신", "는 장군이다.", "은 장군이다."),
        ("카카오", "이 발표했다", "가 발표했다"),
        ("삼성전자", "가 발표했다", "가 발표했다"),
        ("한국은행", "가 발표했다", "이 발표했다"),
        ("네이버", "을 인수", "를 인수"),
        ("서울", "로 이사", "로 이사"),
        ("부산", "로 이사", "으로 이사"),
        ("평양", "으로 이사", "으로 이사"),
        ("카카오", "으로 이사", "로 이사"),
        ("세종", "와 함께", "과 함께"),
        ("세종", "이순신과", "이순신과"),  # a word that starts with 이 is not a particle
        ("MBC", "는 보도했다", "는 보도했다"),  # no Hangul to decide from
        ("세종", " 대왕", " 대왕"),
    ],
)
def test_fix_particle(word: str, rest: str, expected: str) -> None:
    assert fix_particle(word, rest) == expected


def test_particle_for_query() -> None:
    assert particle_for("이순신", "과", "와") == "과" and particle_for("카카오", "과", "와") == "와"


def test_entity_replacement_fixes_particle_and_offsets() -> None:
    from kre.augment.common import replace_entity
    from kre.data import Entity, Example

    sentence = "카카오로 옮긴 이순신은 1545년에 태어났다."
    ex = Example(
        "1", sentence, Entity("이순신", 8, 10, "PER"), Entity("카카오", 0, 2, "ORG"), "per:employee_of", "wikipedia"
    )
    new_sentence, subj, obj = replace_entity(ex, "object", "한국은행")
    assert new_sentence == "한국은행으로 옮긴 이순신은 1545년에 태어났다."
    assert subj.matches(new_sentence) and obj.matches(new_sentence)
    new_sentence, subj, obj = replace_entity(ex, "subject", "방민아")
    assert new_sentence == "카카오로 옮긴 방민아는 1545년에 태어났다." and subj.matches(new_sentence)
