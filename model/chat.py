"""Chat formatting: a model's own chat template wraps the source as one user turn.

Chat models are trained on text laid out by the Jinja template in their
``tokenizer_config.json`` (``chat_template``). "Format as chat" renders that template the
way its authors' library does — a sandboxed, immutable Jinja environment with
``trim_blocks`` and ``lstrip_blocks``, a ``tojson`` filter that keeps non-ASCII text,
``raise_exception`` and ``strftime_now``, the tokenizer's special tokens as variables —
for one user message with the generation prompt, and the result is tokenized without
adding special tokens (the template writes its own).

A template is code from a file the user opened: it runs in Jinja's sandbox, which allows
no attribute access to Python internals, and its size is checked before it is compiled.
Every failure is a ``CheckpointError`` with one sentence.

The rendered text is known in three parts — what the template wrote before the user's
text, the text, and what it wrote after — so the tokens panel can grey the template's
tokens like special tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .weights import CheckpointError, checkpoint_file, first_line

MAX_TEMPLATE_CHARS = 1024 * 1024
MAX_TOKENIZER_CONFIG_BYTES = 16 * 1024 * 1024
# Rendering a hostile template could produce any amount of text; a real chat prompt with
# one user turn is the text plus a few hundred characters.
MAX_RENDERED_OVERHEAD_CHARS = 1024 * 1024
# Stands in for the user's text to find where the template puts it (private-use code points).
_PLACEHOLDER = "\U000f0000user text\U000f0001"
SPECIAL_TOKEN_NAMES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)


@dataclass(frozen=True)
class RenderedChat:
    """A rendered chat prompt and where the user's text sits in it."""

    text: str
    user_start: int  # text[user_start:user_end] is the user's text as the template wrote it
    user_end: int


@dataclass(frozen=True)
class ChatTemplate:
    """A model's chat template and the special-token strings it may refer to."""

    source: str
    special_tokens: dict[str, str]

    @classmethod
    def from_folder(cls, folder: Path) -> "ChatTemplate | None":
        """The template in ``folder``'s ``tokenizer_config.json`` (or ``chat_template.jinja``), or None."""
        config = _read_tokenizer_config(folder)
        source = config.get("chat_template")
        jinja_file = checkpoint_file(folder, "chat_template.jinja")
        if source is None and jinja_file is not None:
            source = _read_text(jinja_file, MAX_TEMPLATE_CHARS * 4)
        if source is None:
            return None
        if isinstance(source, list):  # [{"name": "default", "template": "…"}, …]
            named = {entry.get("name"): entry.get("template") for entry in source if isinstance(entry, dict)}
            source = named.get("default")
            if source is None:
                return None
        if not isinstance(source, str):
            raise CheckpointError(f"{folder / 'tokenizer_config.json'}: chat_template must be a string")
        if len(source) > MAX_TEMPLATE_CHARS:
            raise CheckpointError(f"{folder}: the chat template is {len(source):,} characters, far too long")
        specials = {}
        for name in SPECIAL_TOKEN_NAMES:
            value = config.get(name)
            if isinstance(value, dict):  # an AddedToken written out: {"content": "<s>", …}
                value = value.get("content")
            if isinstance(value, str):
                specials[name] = value
        return cls(source, specials)

    def render(self, user_text: str, add_generation_prompt: bool = True) -> RenderedChat:
        """The prompt for one user turn holding ``user_text``.

        Raises:
            CheckpointError: the template does not compile, raises, or writes an absurd amount.
        """
        template = _compile(self.source)
        around = self._render(template, _PLACEHOLDER, add_generation_prompt)
        text = self._render(template, user_text, add_generation_prompt)
        start = around.find(_PLACEHOLDER)
        if start < 0:
            raise CheckpointError("the chat template does not write the user's message")
        before, after = around[:start], around[start + len(_PLACEHOLDER) :]
        if not (text.startswith(before) and text.endswith(after)) or len(text) < len(before) + len(after):
            # The template rewrites the message in a way that changes its surroundings too;
            # the whole text is then shown as the user's.
            return RenderedChat(text, 0, len(text))
        return RenderedChat(text, len(before), len(text) - len(after))

    def _render(self, template, user_text: str, add_generation_prompt: bool) -> str:
        import jinja2

        messages = [{"role": "user", "content": user_text}]
        try:
            text = template.render(
                messages=messages,
                tools=None,
                documents=None,
                add_generation_prompt=add_generation_prompt,
                **self.special_tokens,
            )
        except jinja2.TemplateError as error:
            raise CheckpointError(f"the chat template failed: {first_line(error)}") from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError, OverflowError) as error:
            raise CheckpointError(f"the chat template failed: {type(error).__name__}: {first_line(error)}") from None
        if len(text) > len(user_text) + MAX_RENDERED_OVERHEAD_CHARS:
            raise CheckpointError("the chat template writes far more text than a chat prompt holds")
        return text


def _compile(source: str):
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
        # Jinja's own tojson escapes HTML characters, which chat templates do not expect.
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format: str) -> str:
        return datetime.now().strftime(format)

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    environment.filters["tojson"] = tojson
    environment.globals["raise_exception"] = raise_exception
    environment.globals["strftime_now"] = strftime_now
    try:
        return environment.from_string(source)
    except jinja2.TemplateError as error:
        raise CheckpointError(f"the chat template is not valid Jinja: {first_line(error)}") from None


def _read_tokenizer_config(folder: Path) -> dict:
    path = checkpoint_file(folder, "tokenizer_config.json")
    if path is None:
        return {}
    text = _read_text(path, MAX_TOKENIZER_CONFIG_BYTES)
    try:
        values = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({first_line(error)})") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path} must hold a JSON object")
    return values


def _read_text(path: Path, limit: int) -> str:
    size = path.stat().st_size
    if size > limit:
        raise CheckpointError(f"{path} is {size:,} bytes, far too large")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointError(f"cannot read {path}: {first_line(error)}") from None
