"""Text to token ids with the ``tokenizers`` library, from a ``tokenizer.json``.

The explorer shows the tokens of the text and nothing else: a tokenizer's own padding
is switched off, and truncation is set to what the model can take, reported back so
the user is told when their text was cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tokenizers import Encoding, Tokenizer

from .weights import CheckpointError, checkpoint_file, first_line

# Real tokenizer.json files are a few megabytes (the largest multilingual ones about 35 MB).
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
# Letters, digits, punctuation, whitespace, accents, CJK, emoji and a control character:
# encoding it at load time exercises the unknown-token path and the post-processor.
PROBE_TEXT = "Aa zZ 09 .,;!? ‐ café Ω ж 中文 😀 \t\n\x01"


@dataclass
class Encoded:
    ids: list[int]
    tokens: list[str]
    type_ids: list[int]
    special: list[bool]
    truncated: bool
    # (start, end) character offsets of each token in its text.
    offsets: list[tuple[int, int]] = field(default_factory=list)
    # True for tokens a chat template wrote around the user's text (empty: no template).
    template: list[bool] = field(default_factory=list)


def clean_text(text: str) -> str:
    """Text the tokenizer can take: lone surrogates (invalid in UTF-8) become U+FFFD.

    A surrogate pair left as two code points (text that went through UTF-16 piecewise)
    becomes the character it encodes.
    """
    if not isinstance(text, str):
        text = str(text)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` set up for inspection rather than batching."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self._tokenizer = tokenizer
        self.max_length = max_length
        # The tokenizer.json it was read from, for messages; None when built in memory.
        self.path: Path | None = None
        tokenizer.no_padding()
        # The library's truncation keeps every overflowing window and, for a sentence pair,
        # every combination of them (gigabytes for a long paste); ``encode`` cuts instead.
        tokenizer.no_truncation()
        self.special_ids = frozenset(
            token_id for token_id, added in tokenizer.get_added_tokens_decoder().items() if added.special
        )

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> "TextTokenizer":
        """Read ``tokenizer.json``; any failure becomes a ``CheckpointError`` naming the file.

        The file must be the checkpoint's own (no link out of its folder) and no larger
        than ``MAX_TOKENIZER_BYTES``; the tokenizer must encode a probe text of many
        scripts without error, so a broken one is refused here rather than on first use.
        """
        path = Path(path)
        if checkpoint_file(path.parent, path.name) is None:
            raise CheckpointError(
                f"{path.parent} has no tokenizer.json; save the model's fast tokenizer there "
                "(tokenizer.save_pretrained) and open the folder again"
            )
        size = path.stat().st_size
        if size > MAX_TOKENIZER_BYTES:
            raise CheckpointError(f"{path} is {size:,} bytes, far too large for a tokenizer file")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # the library raises bare Exceptions for bad JSON
            raise CheckpointError(f"{path} is not a valid tokenizer file: {first_line(error)}") from None
        try:
            text_tokenizer = cls(tokenizer, max_length)
            text_tokenizer.encode(PROBE_TEXT, PROBE_TEXT)
        except Exception as error:  # e.g. an unknown-token id missing from the vocabulary
            raise CheckpointError(f"{path} cannot encode text: {first_line(error)}") from None
        text_tokenizer.path = path
        return text_tokenizer

    def largest_id(self) -> int:
        """The largest token id this tokenizer can produce: from its vocabulary, added tokens
        and the special tokens its post-processor inserts (probed by encoding a sentence pair)."""
        vocabulary = self._tokenizer.get_vocab(with_added_tokens=True)
        probed = self.encode(PROBE_TEXT, PROBE_TEXT).ids
        return max([*vocabulary.values(), *probed], default=-1)

    def check_fits(self, embedding_rows: int) -> None:
        """Refuse a tokenizer that can produce an id past the model's embedding table."""
        largest = self.largest_id()
        if largest >= embedding_rows:
            where = self.path if self.path is not None else "the tokenizer"
            raise CheckpointError(
                f"{where} has {self.vocab_size} tokens with ids up to {largest}, but the model's embedding "
                f"holds only {embedding_rows}"
            )

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def to_json(self) -> str:
        return self._tokenizer.to_str()

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True) -> Encoded:
        """Token ids of ``text`` (and ``pair``) with special tokens, cut to ``max_length``.

        The cut matches the library's longest-first truncation: a pair keeps the shorter
        side whole when it fits in half the room, otherwise both get half. The work is
        linear in the length of the text, however long it is.
        """
        text = clean_text(text)
        pair = clean_text(pair) if pair else None
        first = self._encode_part(text, second=False)
        second = self._encode_part(pair, second=True) if pair is not None else None
        specials = self._tokenizer.num_special_tokens_to_add(second is not None) if add_special_tokens else 0
        lengths = (len(first.ids), len(second.ids) if second is not None else 0)
        room = kept_lengths(*lengths, max(self.max_length - specials, 0))
        first = self._prefix(first, text, room[0], second=False)
        if second is not None:
            second = self._prefix(second, pair, room[1], second=True)
        encoding = self._tokenizer.post_process(first, second, add_special_tokens=add_special_tokens)
        truncated = room != lengths
        if len(encoding.ids) > self.max_length:  # a post-processor that adds more than it declares
            encoding.truncate(self.max_length)
            truncated = True
        return Encoded(
            ids=list(encoding.ids),
            tokens=list(encoding.tokens),
            type_ids=list(encoding.type_ids),
            special=[bool(flag) for flag in encoding.special_tokens_mask],
            truncated=truncated,
            offsets=[tuple(offset) for offset in encoding.offsets],
        )

    def _encode_part(self, text: str, second: bool) -> Encoding:
        """One side of the input without special tokens; the second side gets type id 1,
        as the library's own pair encoding gives it before any post-processor."""
        if second:
            return self._tokenizer.encode("", text, add_special_tokens=False)
        return self._tokenizer.encode(text, add_special_tokens=False)

    def _prefix(self, encoding: Encoding, text: str, keep: int, second: bool) -> Encoding:
        """The first ``keep`` tokens of ``encoding`` (the encoding of ``text``) as an Encoding of their own.

        ``Encoding.truncate`` would keep the rest as overflowing windows, and post-processing
        a pair combines every window of one side with every window of the other: a 100 KB
        paste in both fields made hundreds of thousands of encodings. So the text is cut
        where the first dropped token starts, encoded again and truncated; that encoding
        is short, so its overflow is a window or two. Should the cut text tokenize
        differently, a cut a few tokens later is tried before settling.
        """
        if keep >= len(encoding.ids):
            return encoding
        offsets = encoding.offsets
        prefix = encoding
        for cut in (offsets[keep][0], offsets[min(keep + 16, len(offsets) - 1)][1]):
            prefix = self._encode_part(text[:cut], second)
            if prefix.ids[:keep] == encoding.ids[:keep]:
                break
        if len(prefix.ids) > keep:
            prefix.truncate(keep)
        return prefix

    def token(self, token_id: int) -> str:
        token = self._tokenizer.id_to_token(token_id)
        return token if token is not None else f"<{token_id}>"

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.token(token_id) for token_id in ids]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)


def kept_lengths(first: int, second: int, room: int) -> tuple[int, int]:
    """How many tokens of each sequence to keep in ``room`` (the ``tokenizers`` longest-first rule)."""
    if first + second <= room:
        return first, second
    short, long = sorted((first, second))
    keep_long = long if short > room else max(short, room - short)
    keep_short = short
    if keep_short + keep_long > room:
        keep_short = room // 2
        keep_long = keep_short + room % 2
    keep_long, keep_short = min(keep_long, long), min(keep_short, short)
    return (keep_long, keep_short) if first > second else (keep_short, keep_long)
