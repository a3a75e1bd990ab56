"""The local Hugging Face cache, read strictly offline."""

from __future__ import annotations

from pathlib import Path


def find_cached_model(repo_id: str) -> Path | None:
    return None
