"""Deterministic cased WordPiece training: the same texts give byte-identical tokenizer files on every run.

HF's WordPiece trainer numbers `##` pieces in hash order and so breaks tied merges differently per process
(four runs at 16k tokens gave four vocabularies). Its BPE trainer without a continuation prefix is
deterministic, so the pieces come from BPE and the WordPiece vocabulary is ranked from their counts.
"""

from __future__ import annotations

from collections import Counter

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import ElectraTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CONTINUATION = "##"


def _normalizer() -> normalizers.Normalizer:
    """The normaliser transformers rebuilds on load for a cased BERT tokenizer, so saved and loaded ones agree."""
    return normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=False,
                                      lowercase=False)


def _alphabet(texts: list[str], size: int) -> list[str]:
    """The `size` most frequent characters, ties broken by the character."""
    normalizer, counts = _normalizer(), Counter()
    for text in texts:
        counts.update(c for c in normalizer.normalize_str(text) if not c.isspace())
    return [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]]


def _piece_counts(texts: list[str], vocab_size: int, alphabet: list[str]) -> Counter:
    """How often each BPE piece is used over the corpus's words, word-initial as is, later ones as `##piece`."""
    bpe = Tokenizer(models.BPE(unk_token="[UNK]"))
    bpe.normalizer, bpe.pre_tokenizer = _normalizer(), pre_tokenizers.BertPreTokenizer()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
        initial_alphabet=alphabet, limit_alphabet=len(alphabet)))
    words = Counter(word for text in texts
                    for word, _ in bpe.pre_tokenizer.pre_tokenize_str(bpe.normalizer.normalize_str(text)))
    counts = Counter()
    for word, n in words.items():
        for i, piece in enumerate(bpe.model.tokenize(word)):
            counts[piece.value if i == 0 else CONTINUATION + piece.value] += n
    return counts


def train_wordpiece(texts: list[str], vocab_size: int, max_length: int) -> ElectraTokenizerFast:
    """Train a cased WordPiece tokenizer of exactly `vocab_size` tokens (padded with `[unusedN]`) on `texts`.

    Vocabulary: special tokens, each alphabet character alone and as `##` continuation, then the most used
    BPE pieces, ties broken by the piece."""
    alphabet = _alphabet(texts, (vocab_size - len(SPECIAL_TOKENS)) // 2)
    tokens = SPECIAL_TOKENS + alphabet + [CONTINUATION + c for c in alphabet]
    known = set(tokens)
    ranked = sorted(_piece_counts(texts, vocab_size, alphabet).items(), key=lambda kv: (-kv[1], kv[0]))
    tokens += [piece for piece, _ in ranked if piece not in known][:vocab_size - len(tokens)]
    tokens += [f"[unused{i}]" for i in range(vocab_size - len(tokens))]
    vocab = {token: i for i, token in enumerate(tokens)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix=CONTINUATION))
    tok.normalizer = _normalizer()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix=CONTINUATION)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    assert tok.get_vocab_size() == vocab_size, (tok.get_vocab_size(), vocab_size)
    return ElectraTokenizerFast(tokenizer_object=tok, do_lower_case=False, model_max_length=max_length)
