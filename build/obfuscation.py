"""Label-preserving obfuscation of Korean comments, as people write swear words past filters: the syllables of a
word split by spaces, dots, digits or stars (`시 발`, `병.신`, `존1나`). Training can show it (`Recipe.augment`)."""

from __future__ import annotations

import random

SEPARATORS = (" ", ".", "1", "*")
WORD_SHARE = 0.5  # chance that each word of two or more Hangul syllables is split
SEED = 0  # the one draw behind the report's obfuscated copies of its evaluation sets


def is_hangul_syllable(character: str) -> bool:
    """A precomposed Hangul syllable (가 .. 힣)."""
    return "\uac00" <= character <= "\ud7a3"


def obfuscate(text: str, rng: random.Random) -> str:
    """`text` with each word of two or more Hangul syllables, at chance `WORD_SHARE`, split by one separator."""
    words = text.split(" ")
    for i, word in enumerate(words):
        if sum(map(is_hangul_syllable, word)) >= 2 and rng.random() < WORD_SHARE:
            words[i] = rng.choice(SEPARATORS).join(word)
    return " ".join(words)


def obfuscate_all(texts: list[str]) -> list[str]:
    """Every text obfuscated, one `SEED`ed draw: a copy of an evaluation set as people write past filters."""
    rng = random.Random(SEED)
    return [obfuscate(text, rng) for text in texts]
