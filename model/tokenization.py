"""Text to token ids with the ``tokenizers`` library, from a ``tokenizer.json``.

The explorer shows the tokens of the text and nothing else: a tokenizer's own padding
is switched off, and truncation is set to what the model can take, reported back so
the user is told when their text was cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from .weights import CheckpointError


@dataclass
class Encoded:
    ids: list[int]
    tokens: list[str]
    type_ids: list[int]
    special: list[bool]
    truncated: bool


def clean_text(text: str) -> str:
    """Text the tokenizer can take: lone surrogates (invalid in UTF-8) become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8") if isinstance(text, str) else str(text)


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` set up for inspection rather than batching."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self._tokenizer = tokenizer
        self.max_length = max_length
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length)
        self.special_ids = frozenset(
            token_id for token_id, added in tokenizer.get_added_tokens_decoder().items() if added.special
        )

    @classmethod
    def from_file(cls, path: str | Path, max_length: int) -> "TextTokenizer":
        """Read ``tokenizer.json``; any failure becomes a ``CheckpointError`` naming the file."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(
                f"{path.parent} has no tokenizer.json; save the model's fast tokenizer there "
                "(tokenizer.save_pretrained) and open the folder again"
            )
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # the library raises bare Exceptions for bad JSON
            raise CheckpointError(f"{path} is not a valid tokenizer file: {_first_line(error)}") from None
        return cls(tokenizer, max_length)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def to_json(self) -> str:
        return self._tokenizer.to_str()

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True) -> Encoded:
        text = clean_text(text)
        pair = clean_text(pair) if pair else None
        encoding = self._tokenizer.encode(text, pair, add_special_tokens=add_special_tokens)
        return Encoded(
            ids=list(encoding.ids),
            tokens=list(encoding.tokens),
            type_ids=list(encoding.type_ids),
            special=[bool(flag) for flag in encoding.special_tokens_mask],
            truncated=bool(encoding.overflowing),
        )

    def token(self, token_id: int) -> str:
        token = self._tokenizer.id_to_token(token_id)
        return token if token is not None else f"<{token_id}>"

    def tokens(self, ids: list[int]) -> list[str]:
        return [self.token(token_id) for token_id in ids]

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def token_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
