"""Cutting text to the model's maximum: the library's own rule, in time and memory linear in the text.

The ``tokenizers`` library's truncation keeps every overflowing window and, for a
sentence pair, every combination of the two sides' windows: a 100 KB paste in both
fields of an encoder-only model made hundreds of thousands of encodings and used up
all memory. ``TextTokenizer.encode`` cuts on its own; these tests hold it to the
library's longest-first result and to a memory ceiling.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from model.tokenization import TextTokenizer, clean_text
from text_models import byte_level_tokenizer_json
from tiny_models import task_tokenizer

WORDS = "the quick brown fox jumps over a lazy dog sort owl cat fig café 東京 😀 İstanbul ﬁne  \t Ω".split(" ")
TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tokenizer_texts() -> dict[str, str]:
    """A word-level tokenizer with an ``$A </s> $B </s>`` template and a byte-level BPE without one."""
    return {"word-level": task_tokenizer().to_json(), "byte-level": byte_level_tokenizer_json(300)}


@pytest.mark.parametrize("kind", ["word-level", "byte-level"])
@pytest.mark.parametrize("max_length", [16, 5, 3])
def test_the_cut_matches_the_librarys_longest_first_truncation(tokenizer_texts, kind: str, max_length: int) -> None:
    ours = TextTokenizer(Tokenizer.from_str(tokenizer_texts[kind]), max_length)
    library = Tokenizer.from_str(tokenizer_texts[kind])
    library.enable_truncation(max_length)
    rng = random.Random(max_length)
    for trial in range(150):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 30)))
        pair = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30))) if trial % 2 else None
        encoded, expected = ours.encode(text, pair), library.encode(text, pair)
        assert encoded.ids == expected.ids, (text, pair)
        assert encoded.tokens == expected.tokens
        assert encoded.type_ids == expected.type_ids
        assert encoded.special == [bool(flag) for flag in expected.special_tokens_mask]
        assert encoded.truncated == bool(expected.overflowing)


def test_room_smaller_than_the_special_tokens_still_respects_the_maximum() -> None:
    """With room for the specials only, the library gives up and returns everything; the cut does not."""
    tokenizer = task_tokenizer(max_length=1)
    encoded = tokenizer.encode("sort: owl cat fig", "owl cat")
    assert len(encoded.ids) == 1 and encoded.truncated


def test_a_100_kb_pair_is_cut_within_a_memory_ceiling() -> None:
    """The cut's peak resident memory, measured in a child (the library's own truncation needed
    over 20 GB for this input). Resident memory, not address space: a CUDA build of torch
    reserves gigabytes of addresses it never touches. A data-segment limit well above the
    ceiling keeps a regression from exhausting the machine before it can fail."""
    script = f"""
import resource, sys
try:
    resource.setrlimit(resource.RLIMIT_DATA, (16 << 30, 16 << 30))
except (ValueError, OSError):
    pass  # not every platform lets a process lower it; the measurement below still holds
sys.path.insert(0, {str(TESTS)!r})
from tiny_models import task_tokenizer
tokenizer = task_tokenizer(48)
paste = "the quick brown fox, 東京 😀 " * 4000
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
encoded = tokenizer.encode(paste, paste)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
print(len(encoded.ids), encoded.truncated, (after - before) * scale)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    count, truncated, grown = result.stdout.split()
    assert (count, truncated) == ("48", "True")
    # The peak may grow by the text and a few windows of it, never by gigabytes.
    assert int(grown) < 256 << 20, f"the cut raised peak resident memory by {int(grown) >> 20} MiB"


def test_lone_surrogates_become_the_replacement_character() -> None:
    assert clean_text("a\ud800b") == "a\ufffdb"
    assert clean_text("\udfff") == "\ufffd"
    assert clean_text("\ud83d\ude00") == "😀"  # a pair split into two code points is rejoined
    tokens = task_tokenizer().encode("owl \ud800 cat").tokens
    assert tokens[0] == "owl" and tokens[-2:] == ["cat", "</s>"]
