"""Tokens an image costs as input, by each provider's documented rule (for --estimate; always estimated).

A model's rule is its `image_tokens` table in configs/models.toml:
- `rule = "tiles"` (OpenAI, GPT-4o and kin): at detail high the image is fit into 2048x2048, then
  scaled so its shortest side is at most 768 px; each 512 px tile costs `tile` tokens, plus `base`.
  At detail low it costs `base` alone.
- `rule = "patches"` (OpenAI, GPT-4.1-mini and kin): 32 px patches, at most 1536 of them (the image
  shrunk until they fit), times the model's `multiplier`.
- `rule = "mistral"`: the image shrunk to fit `max_size` px, cut into patches of `patch` px
  (`merge` x `merge` patches make one token); each row of tokens ends with a break token.
"""

from __future__ import annotations

import math
from typing import Any

#: an image whose size is unknown (a URL) is counted at the largest size each rule allows
UNKNOWN_SIDE = 2048


def openai_tiles(width: int, height: int, *, base: int, tile: int, detail: str = "high") -> int:
    if detail == "low":
        return base
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    shrink = min(1.0, 768 / min(w, h))
    w, h = w * shrink, h * shrink
    return base + tile * math.ceil(w / 512) * math.ceil(h / 512)


def openai_patches(width: int, height: int, *, multiplier: float, patch: int = 32, cap: int = 1536) -> int:
    patches = math.ceil(width / patch) * math.ceil(height / patch)
    if patches > cap:
        # Shrink so the patches fit under the cap, then so the sides are whole patches.
        shrink = math.sqrt(patch * patch * cap / (width * height))
        w, h = width * shrink, height * shrink
        shrink *= min(math.floor(w / patch) / (w / patch), math.floor(h / patch) / (h / patch))
        patches = math.ceil(width * shrink / patch) * math.ceil(height * shrink / patch)
    return math.ceil(patches * multiplier)


def mistral_patches(width: int, height: int, *, patch: int, max_size: int, merge: int = 1) -> int:
    ratio = max(width / max_size, height / max_size)
    w: float = width
    h: float = height
    if ratio > 1:
        w, h = max(round(width / ratio), 1), max(round(height / ratio), 1)
    step = patch * merge
    cols, rows = math.ceil(w / step), math.ceil(h / step)
    return rows * (cols + 1)


def image_tokens(rule: dict[str, Any] | None, width: int | None, height: int | None) -> int | None:
    """Tokens for one image under `rule` (a model's `image_tokens`), or None where no rule is known."""
    if not isinstance(rule, dict):
        return None
    w, h = width or UNKNOWN_SIDE, height or UNKNOWN_SIDE
    kind = rule.get("rule")
    if kind == "tiles":
        return openai_tiles(w, h, base=int(rule["base"]), tile=int(rule["tile"]),
                            detail=str(rule.get("detail", "high")))
    if kind == "patches":
        return openai_patches(w, h, multiplier=float(rule["multiplier"]))
    if kind == "mistral":
        return mistral_patches(w, h, patch=int(rule["patch"]), max_size=int(rule["max_size"]),
                               merge=int(rule.get("merge", 1)))
    return None
