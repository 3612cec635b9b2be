"""An alias's defaults carried into the GGUF files quantized from it, under the spec's general.sampling.* keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmctl.providers.defaults import alias_settings
from llmctl.providers.gguf.provider import SAMPLING_METADATA

#: Our setting -> its GGUF key (the same table the gguf provider reads them back with).
GGUF_KEYS = {ours: f"general.sampling.{key}" for key, ours in SAMPLING_METADATA.items()}
#: The spec stores top_k as an integer and the other sampling values as floats.
INTEGER_SETTINGS = frozenset({"top_k"})


@dataclass
class CarriedDefaults:
    """What an alias sets: the GGUF metadata that carries it, and what no GGUF key can hold."""

    alias: str
    metadata: dict[str, float | int] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)

    def line(self) -> str:
        written = ", ".join(f"{key}={value}" for key, value in self.metadata.items())
        line = f"writing {self.alias}'s defaults into the output: {written}"
        if self.left_out:
            line += f" ({', '.join(self.left_out)}: no GGUF key, not carried)"
        return line


def defaults_of(source: str) -> CarriedDefaults:
    """The defaults `source` brings when it names an alias; none for a path (a file sets its own)."""
    if Path(source).expanduser().exists():
        return CarriedDefaults(source)
    from llmctl.providers.registry import resolve_model

    settings = alias_settings(resolve_model(source))
    carried = CarriedDefaults(source)
    for name, value in settings.items():
        key = GGUF_KEYS.get(name)
        if key is None:
            carried.left_out.append(name)
        else:
            carried.metadata[key] = int(value) if name in INTEGER_SETTINGS else float(value)
    return carried
