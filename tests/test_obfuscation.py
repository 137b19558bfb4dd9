"""Training's label-preserving obfuscation: Hangul words split by a separator, nothing else changed."""

import random

from kotox_build.obfuscation import SEPARATORS, WORD_SHARE, obfuscate

TEXT = "너 진짜 병신이네 ㅋㅋ ok 안녕하세요"


def test_only_hangul_words_of_two_syllables_or_more_are_split_and_keep_their_syllables():
    rng = random.Random(0)
    outs = [obfuscate(TEXT, rng) for _ in range(400)]
    for out in outs:
        joined = out
        for separator in SEPARATORS:
            joined = joined.replace(separator, "")
        assert joined == TEXT.replace(" ", "")  # separators only: no syllable lost, added or reordered
        assert out.startswith("너 ") and " ㅋㅋ ok " in out  # one syllable, jamo, Latin: untouched
    for word in ("진짜", "병신이네", "안녕하세요"):
        intact = sum(f" {word}" in out for out in outs) / len(outs)
        assert abs(intact - (1 - WORD_SHARE)) < 0.08, word
    assert {s for s in SEPARATORS if any(f"진{s}짜" in out for out in outs)} == set(SEPARATORS)


def test_obfuscation_is_seeded():
    assert [obfuscate(TEXT, random.Random(3)) for _ in range(2)] == [obfuscate(TEXT, random.Random(3))] * 2
