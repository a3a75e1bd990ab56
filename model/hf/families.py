"""The Hugging Face families this project maps onto its own network, by ``model_type``.

Kept apart from the package's loader (``model.hf``) so that the cache listing, which the
loader imports, can say what is openable without importing the loader back.
"""

from __future__ import annotations

from .bart import BART, MARIAN
from .bert import BERT, DISTILBERT, ROBERTA
from .gemma import GEMMA, GEMMA2, GEMMA3_TEXT
from .gpt2 import GPT2
from .llama import LLAMA, MISTRAL
from .mapping import Family
from .modernbert import MODERNBERT
from .olmo2 import OLMO2
from .phi3 import PHI3
from .qwen import QWEN2, QWEN3
from .smollm3 import SMOLLM3
from .t5 import T5

FAMILIES: dict[str, Family] = {
    family.model_type: family
    for family in (
        BERT, ROBERTA, DISTILBERT, GPT2, T5, BART, MARIAN,
        LLAMA, MISTRAL, QWEN2, QWEN3, GEMMA, GEMMA2, GEMMA3_TEXT, PHI3, OLMO2, SMOLLM3, MODERNBERT,
    )
}
SUPPORTED_MODEL_TYPES = tuple(FAMILIES)
