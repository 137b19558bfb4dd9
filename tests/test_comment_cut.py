"""The tokenizer's cut of long comments is exact: no corpus comment is touched, long texts keep every kept token."""

import itertools
import random

import pytest
from tokenizers import Tokenizer

from conftest import python_model
from kotox_build.data import every_comment
from kotox_build.spec import TOKENIZER_MODEL


@pytest.fixture(scope="module")
def tokenizer_model():
    return python_model("tokenizer.py")


@pytest.fixture(scope="module")
def served(tiny_repository, tiny_spec, tokenizer_model):
    """The served tokenizer's encoder (truncating), counter (not truncating), kept tokens and first window."""
    full = Tokenizer.from_file(str(tiny_repository / TOKENIZER_MODEL / "1" / "tokenizer.json"))
    counter = Tokenizer.from_str(full.to_str())
    full.enable_truncation(tiny_spec.max_tokens)
    kept = tiny_spec.max_tokens - full.post_processor.num_special_tokens_to_add(False)
    return full, counter, kept, tokenizer_model.WINDOW_CHARS_PER_TOKEN * tiny_spec.max_tokens


def test_no_corpus_comment_is_cut(served, tokenizer_model):
    _, counter, kept, window = served
    count = 0
    for text in every_comment():
        assert tokenizer_model.head(text, counter, kept, window) is text  # so its probabilities cannot change
        count += 1
    assert count > 450_000  # every file of the data folder was read


@pytest.mark.parametrize("joiner", [" ", "", "\n", "ㅋ"])
def test_long_texts_keep_their_first_tokens(served, tokenizer_model, joiner):
    full, counter, kept, window = served
    comments = [c for c in itertools.islice(every_comment(), 20_000) if c.strip()]
    rng = random.Random(len(joiner))
    cut_some = 0
    for size in [window // 2, window, window + 1, 3 * window, 20 * window]:
        for _ in range(3):
            text = ""
            while len(text) <= size:
                text += joiner + rng.choice(comments)
            text = text[:size]
            head = tokenizer_model.head(text, counter, kept, window)
            assert text.startswith(head)
            assert full.encode(head).ids == full.encode(text).ids, f"cut changed tokens ({len(text)} chars)"
            cut_some += len(head) < len(text)
    assert cut_some >= 6  # the long ones really were cut


def test_text_without_any_word_break_is_kept_whole(served, tokenizer_model):
    _, counter, kept, window = served
    text = "가" * (5 * window)  # one word: no prefix is provably safe, so nothing is cut
    assert tokenizer_model.head(text, counter, kept, window) == text
