"""Test data builders: small synthetic KLUE-RE style examples and files."""

from __future__ import annotations

import random
from pathlib import Path

from kre.data import Entity, Example, write_csv
from kre.labels import KLUE_RE_LABELS

PEOPLE = ["이순신", "세종", "김구", "안중근", "유관순", "장영실", "정약용", "허준", "신사임당", "홍길동", "박지원", "최무선"]
ORGS = ["삼성전자", "현대자동차", "서울대학교", "국립중앙박물관", "한국은행", "카카오", "네이버", "민생당", "비틀즈", "엘지화학"]
DATES = ["1545년", "1970년 3월", "2019년", "1446년", "1919년 3월 1일"]
PLACES = ["서울", "부산", "한양", "평양", "전라도", "경기도"]
TITLES = ["장군", "대표", "교수", "회장", "감독"]
TEMPLATES = [
    "{a}은 {b}에서 태어난 인물로, {c}에 큰 업적을 남겼다.",
    "{a}의 {b}는 {c} 이후로 널리 알려졌다.",
    "{c}에 {a}와 {b}가 함께 일했다고 전해진다.",
    "{a}, {b}, 그리고 {c}에 관한 기록이 남아 있다.",
]


def _entity(sentence: str, word: str, etype: str, start_from: int = 0) -> Entity:
    start = sentence.index(word, start_from)
    return Entity(word, start, start + len(word) - 1, etype)


def synth_examples(n: int, seed: int = 0, labels: tuple[str, ...] = KLUE_RE_LABELS, pairs_per_sentence: int = 2) -> list[Example]:
    """`n` valid labeled examples; every `pairs_per_sentence` of them share one sentence."""
    rng = random.Random(seed)
    out: list[Example] = []
    idx = 0
    while len(out) < n:
        a, b = rng.sample(PEOPLE, 2)
        org = rng.choice(ORGS)
        c = rng.choice(DATES + PLACES + TITLES)
        template = rng.choice(TEMPLATES)
        sentence = template.format(a=a, b=org if rng.random() < 0.5 else b, c=c) + f" ({idx})"
        words = [(a, "PER"), ((org, "ORG") if org in sentence else (b, "PER")), (c, "DAT" if c in DATES else "LOC" if c in PLACES else "POH")]
        for k in range(pairs_per_sentence):
            if len(out) >= n:
                break
            subj_word, subj_type = words[k % 2]
            obj_word, obj_type = words[2 if k % 2 == 0 else 0]
            label = labels[(idx * 7 + k) % len(labels)]
            prefix = "org:" if subj_type == "ORG" else "per:"
            if label != "no_relation" and not label.startswith(prefix):
                label = "no_relation"
            out.append(
                Example(
                    id=str(len(out)),
                    sentence=sentence,
                    subject=_entity(sentence, subj_word, subj_type),
                    object=_entity(sentence, obj_word, obj_type),
                    label=label,
                    source=rng.choice(["wikipedia", "wikitree", "policy_briefing"]),
                )
            )
        idx += 1
    return out


def write_examples(path: Path, examples: list[Example]) -> Path:
    """Write examples as a competition CSV and return the path."""
    write_csv(path, examples)
    return path


def unlabeled(examples: list[Example]) -> list[Example]:
    """The same examples without labels (a test file)."""
    from dataclasses import replace

    return [replace(e, label=None) for e in examples]
