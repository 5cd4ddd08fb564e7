"""Korean particle choice after swapped entity words."""

from __future__ import annotations

import pytest

from kre.korean import final_consonant, final_sound, fix_particle, particle_for


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
        ("MBC", "는 보도했다", "는 보도했다"),  # C is read 씨
        ("MBC", "은 보도했다", "는 보도했다"),
        ("北京", "은 수도", "은 수도"),  # cannot be read: left alone
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


@pytest.mark.parametrize(
    ("word", "rest", "expected"),
    [  # the cases of issue 12, as entity swap wrote them
        ("인천광역시", "으로부터 관중", "로부터 관중"),
        ("수원 삼성", "와의 원정", "과의 원정"),
        ("사회정책비서관", "로서 참여", "으로서 참여"),
        ("제95민사여단", "는 창설", "은 창설"),
        ("김종필", "를 지지", "을 지지"),
        ("SM 엔터테인먼트", "을 통해", "를 통해"),
        ("서울", "으로부터 먼", "로부터 먼"),
        ("카카오", "으로써 얻은", "로써 얻은"),
        ("한국은행", "이라고 불린", "이라고 불린"),
        ("카카오", "이라고 불린", "라고 불린"),
        ("부산", "나 대구", "이나 대구"),
        ("세종", "와는 달리", "과는 달리"),
        ("렉서스", "으로의 개편", "로의 개편"),
        ("수원 삼성 ", "와 경기", "과 경기"),  # trailing space
        ("삼성(주)", "은 발표", "는 발표"),  # bracket skipped: 주
        ("시동'", "가 파키스탄", "이 파키스탄"),
    ],
)
def test_fix_compound_particles(word: str, rest: str, expected: str) -> None:
    assert fix_particle(word, rest) == expected


@pytest.mark.parametrize(
    ("word", "vowel"),
    [
        ("2AM", False), ("EXO", True), ("KBS", True), ("SM", False), ("URL", False), ("LG", True),
        ("Google", False), ("Twitter", True), ("Facebook", False), ("Network", True), ("Ading", False),
        ("iPhone", False), ("Bluehands", True),
        ("U-15", True), ("리그 1", False), ("2020", False), ("1000", False), ("F-22", True), ("0", False),
        ("360°", True), ("12%", True),
    ],
)
def test_final_sound_of_digits_and_latin(word: str, vowel: bool) -> None:
    assert (final_sound(word) == 0) is vowel


@pytest.mark.parametrize(
    ("word", "expected"),
    [("리그 1", "로"), ("2AM", "으로"), ("URL", "로"), ("F-22", "로"), ("3", "으로"), ("10", "으로"), ("Google", "로")],
)
def test_euro_after_rieul_digits_and_letters(word: str, expected: str) -> None:
    assert particle_for(word, "으로", "로") == expected  # 1 일, 7 칠, 8 팔, L 엘 end in ㄹ


def test_entity_swap_writes_the_issue_examples_correctly() -> None:
    from kre.augment.common import replace_entity
    from kre.data import Entity, Example

    sentence = "A으로부터 B와의 경기"
    ex = Example("1", sentence, Entity("A", 0, 0, "ORG"), Entity("B", 6, 6, "ORG"), "org:members", "wikitree")
    new, subj, obj = replace_entity(ex, "subject", "인천광역시")
    assert new == "인천광역시로부터 B와의 경기" and subj.matches(new) and obj.matches(new)
    new2, subj2, obj2 = replace_entity(Example("1", new, subj, obj, "org:members", "wikitree"), "object", "수원 삼성")
    assert new2 == "인천광역시로부터 수원 삼성과의 경기" and subj2.matches(new2) and obj2.matches(new2)
