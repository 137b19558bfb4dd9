"""Cased WordPiece training with a canonical alphabet and canonical token ids.

The HF trainer breaks ties at random (hash order): fixed here for the alphabet and the ids, but at large
vocabularies (16k measured) tied merges still make the token set differ between runs.
"""

from __future__ import annotations

from collections import Counter

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import ElectraTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONTINUATION = "##"


def _normalizer() -> normalizers.Normalizer:
    """The normaliser transformers rebuilds on load for a cased BERT tokenizer, so saved and loaded ones agree."""
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                      lowercase=False)


def _alphabet(texts: list[str], size: int) -> list[str]:
    """The `size` most frequent characters, ties broken by the character (the trainer breaks them at random)."""
    normalizer, counts = _normalizer(), Counter()
    for text in texts:
        counts.update(c for c in normalizer.normalize_str(text) if not c.isspace())
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def _canonical_ids(vocab: dict[str, int]) -> dict[str, int]:
    """Special tokens first, then the rest ordered by (continuation, token): the trainer's own order is random."""
    rest = sorted((t for t in vocab if t not in SPECIAL_TOKENS), key=lambda t: (t.startswith(CONTINUATION), t))
    return {token: i for i, token in enumerate(SPECIAL_TOKENS + rest)}


def train_wordpiece(texts: list[str], vocab_size: int, max_length: int) -> ElectraTokenizerFast:
    """Train a cased WordPiece tokenizer of exactly `vocab_size` tokens (padded with `[unusedN]`) on `texts`."""
    alphabet = _alphabet(texts, vocab_size // 2)
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.normalizer = _normalizer()
    trained.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trained.train_from_iterator(texts, trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=alphabet, limit_alphabet=len(alphabet)))
    vocab = _canonical_ids(trained.get_vocab())
    vocab.update({f"[unused{i}]": len(vocab) + i for i in range(vocab_size - len(vocab))})
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION))
    tok.normalizer = trained.normalizer
    tok.pre_tokenizer = trained.pre_tokenizer
    tok.decoder = trained.decoder
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)
    return ElectraTokenizerFast(tokenizer_object=tok, do_lower_case=False, model_max_length=max_length)
