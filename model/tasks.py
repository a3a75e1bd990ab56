"""Sequence tasks the bundled model learns, generated here so nothing is downloaded.

Each task's source starts with its name and a colon, so one model learns them all:

- ``date``: "date: wednesday, 25 november 2026" → "2026-11-25"
- ``number``: "number: four thousand two hundred seven" → "4207"
- ``reverse``: "reverse: owl cat fig" → "fig cat owl"
- ``sort``: "sort: owl cat fig" → "cat fig owl"

Their cross-attention has structure a person can see and a test can check: a date's
output digits look at the matching input field, a reversed list looks at the mirrored
position. Digits are single tokens, so "2026" is four of them.
"""

from __future__ import annotations

import calendar
import datetime
import random

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel

TASKS = ("date", "number", "reverse", "sort")
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
PAD, BOS, EOS, UNK = range(4)

WORDS = (
    "ant bat bee cat cow crab crow deer dog duck eel elk emu fig fox frog goat hare hen "
    "ibex jay kiwi lamb lark lime lion lynx mole moth mule newt owl ox pear plum pony "
    "puma ram rat seal slug swan toad wasp wolf yak"
).split()
ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
MONTHS = [name.lower() for name in calendar.month_name[1:]]
MONTH_ABBREVIATIONS = [name.lower() for name in calendar.month_abbr[1:]]
WEEKDAYS = [name.lower() for name in calendar.day_name]
WEEKDAY_ABBREVIATIONS = [name.lower() for name in calendar.day_abbr]


def number_words(value: int) -> str:
    """English words for 0 ≤ value ≤ 9999, without "and" or hyphens."""
    if value < 20:
        return ONES[value]
    parts = []
    thousands, rest = divmod(value, 1000)
    hundreds, rest = divmod(rest, 100)
    if thousands:
        parts += [ONES[thousands], "thousand"]
    if hundreds:
        parts += [ONES[hundreds], "hundred"]
    if rest >= 20:
        parts.append(TENS[rest // 10])
        if rest % 10:
            parts.append(ONES[rest % 10])
    elif rest:
        parts.append(ONES[rest])
    return " ".join(parts)


def _date(rng: random.Random) -> tuple[str, str]:
    day = datetime.date(1900, 1, 1) + datetime.timedelta(days=rng.randrange(73049))  # to 2099-12-31
    month, weekday = day.month - 1, day.weekday()
    style = rng.randrange(4)
    if style == 0:
        text = f"{WEEKDAYS[weekday]}, {day.day} {MONTHS[month]} {day.year}"
    elif style == 1:
        text = f"{day.day} {MONTHS[month]} {day.year}"
    elif style == 2:
        text = f"{MONTHS[month]} {day.day}, {day.year}"
    else:
        text = f"{WEEKDAY_ABBREVIATIONS[weekday]} {day.day} {MONTH_ABBREVIATIONS[month]} {day.year}"
    return text, day.isoformat()


def _number(rng: random.Random) -> tuple[str, str]:
    # Spread evenly over the number of digits so short numbers are not rare.
    digits = rng.randrange(1, 5)
    value = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
    return number_words(value), str(value)


def _word_list(rng: random.Random) -> list[str]:
    return [rng.choice(WORDS) for _ in range(rng.randrange(3, 9))]


def sample(task: str, rng: random.Random) -> tuple[str, str]:
    """One (source, target) example of ``task``; the source carries the task prefix."""
    if task == "date":
        body, target = _date(rng)
    elif task == "number":
        body, target = _number(rng)
    elif task == "reverse":
        words = _word_list(rng)
        body, target = " ".join(words), " ".join(reversed(words))
    elif task == "sort":
        words = _word_list(rng)
        body, target = " ".join(words), " ".join(sorted(words))
    else:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    return f"{task}: {body}", target


def vocabulary() -> list[str]:
    words = [*SPECIAL_TOKENS, *TASKS, ":", ",", "-", *"0123456789"]
    for group in (ONES, TENS[2:], ["hundred", "thousand"], MONTHS, MONTH_ABBREVIATIONS, WEEKDAYS, WEEKDAY_ABBREVIATIONS, WORDS):
        words += [word for word in group if word not in words]
    return words


def build_tokenizer() -> Tokenizer:
    """A word-level tokenizer over the tasks' vocabulary; digits are single tokens.

    Text is lower-cased, so "Wednesday" and "wednesday" are the same token; anything
    outside the vocabulary becomes ``<unk>``. Sources and targets end with ``</s>``.
    """
    vocab = {token: index for index, token in enumerate(vocabulary())}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", EOS)]
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return tokenizer


def join_target(tokens: list[str]) -> str:
    """How a target reads: digits and dashes run together, words get spaces."""
    text = ""
    for token in tokens:
        glued = token.isdigit() or token == "-"
        if text and not (glued and (text[-1].isdigit() or text[-1] == "-")):
            text += " "
        text += token
    return text
