"""What a Hugging Face model folder holds, read from its JSON files alone (no torch, no transformers)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from llmctl.core.errors import UsageError

SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")

#: model types transformers ships encoder-decoder generation for (when `architectures` is absent)
SEQ2SEQ_TYPES = frozenset({"t5", "mt5", "bart", "mbart", "marian", "pegasus", "blenderbot", "blenderbot-small",
                           "led", "longt5", "umt5", "m2m_100", "nllb-moe", "fsmt", "prophetnet", "plbart"})
#: model types that are encoders: they embed, they do not generate
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "mpnet",
                           "deberta", "deberta-v2", "camembert", "nomic_bert", "modernbert", "e5", "bge"})

POOLING_MODES = ("cls", "mean", "max", "lasttoken", "mean_sqrt_len_tokens")


def _read_json(path: Path, label: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise UsageError(f"{label}: {path.name} is not valid JSON ({detail})") from None


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector, as sentence-transformers declares it."""

    mode: str = "mean"
    normalize: bool = False
    max_seq_length: int | None = None


class HFFolder:
    """A local model folder: its config, weights, tokenizer files and what it can do."""

    def __init__(self, path: str | Path, label: str) -> None:
        self.path = Path(path)
        self.label = label
        if not self.path.is_dir():
            raise UsageError(f"{label}: no such folder: {self.path}")

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    @cached_property
    def config(self) -> dict[str, Any]:
        if not self.has("config.json"):
            raise UsageError(f"{self.label}: no config.json in {self.path} (not a Hugging Face model folder)")
        data = _read_json(self.path / "config.json", self.label)
        if not isinstance(data, dict):
            raise UsageError(f"{self.label}: config.json does not hold a JSON object")
        return data

    @cached_property
    def sampling_defaults(self) -> dict[str, Any]:
        """What generation_config.json sets, in llmctl's names (greedy decoding is temperature 0)."""
        if not self.has("generation_config.json"):
            return {}
        data = _read_json(self.path / "generation_config.json", self.label)
        if not isinstance(data, dict):
            return {}
        found: dict[str, Any] = {}
        if data.get("do_sample") is True:
            found.update({k: data[k] for k in ("temperature", "top_p", "top_k")
                          if isinstance(data.get(k), (int, float))})
        elif data.get("do_sample") is False:
            found["temperature"] = 0.0
        if isinstance(data.get("repetition_penalty"), (int, float)):
            found["repeat_penalty"] = data["repetition_penalty"]
        if isinstance(data.get("max_new_tokens"), int):
            found["max_tokens"] = data["max_new_tokens"]
        return found

    @property
    def model_type(self) -> str:
        return str(self.config.get("model_type") or "")

    @property
    def architectures(self) -> list[str]:
        found = self.config.get("architectures")
        return [str(a) for a in found] if isinstance(found, list) else []

    @property
    def is_encoder_decoder(self) -> bool:
        if self.config.get("is_encoder_decoder"):
            return True
        return any(a.endswith("ForConditionalGeneration") for a in self.architectures) and \
            self.model_type in SEQ2SEQ_TYPES

    @property
    def generates(self) -> bool:
        if self.is_encoder_decoder:
            return True
        if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in self.architectures):
            return True
        return not self.architectures and self.model_type not in ENCODER_TYPES and not self.is_sentence_transformer

    @property
    def head(self) -> str | None:
        """'sequence-classification', 'nli' (a sequence head with an entailment label),
        'token-classification', or None for a model with no task head."""
        if any(a.endswith("ForSequenceClassification") for a in self.architectures):
            labels = self.config.get("id2label") or {}
            return "nli" if any(str(v).lower() == "entailment" for v in labels.values()) else "sequence-classification"
        if any(a.endswith("ForTokenClassification") for a in self.architectures):
            return "token-classification"
        return None

    @property
    def is_sentence_transformer(self) -> bool:
        return self.has("modules.json") or self.has("1_Pooling/config.json") or \
            self.has("config_sentence_transformers.json")

    # ------------------------------------------------------------------ weights
    def weights(self, allow_pickle: bool) -> str:
        """'safetensors' or 'pickle': which checkpoint to load; errors say what is wrong."""
        if any(self.has(name) for name in SAFETENSORS_FILES):
            return "safetensors"
        if any(self.has(name) for name in PICKLE_FILES):
            if allow_pickle:
                return "pickle"
            raise UsageError(
                f"{self.label}: only pickle weights (pytorch_model.bin), which can run code when loaded; "
                "pass --allow-pickle if you trust this folder"
            )
        others = [n for n in ("tf_model.h5", "flax_model.msgpack", "model.ckpt.index") if self.has(n)]
        found = f" (found only {', '.join(others)}, which llmctl does not load)" if others else ""
        raise UsageError(f"{self.label}: no model weights (model.safetensors) in {self.path}{found}")

    # -------------------------------------------------------------- remote code
    def remote_code_reason(self, known_types: frozenset[str] | None) -> str | None:
        """Why loading this model would run code from the folder, or None when it would not."""
        auto_map = self.config.get("auto_map")
        if isinstance(auto_map, dict) and auto_map:
            return "its config.json maps to Python files in the folder (auto_map)"
        if known_types is not None and self.model_type not in known_types:
            kind = f"model type {self.model_type!r}" if self.model_type else "no model_type"
            return f"{kind} is not one transformers knows"
        return None

    def check_remote_code(self, trust_remote_code: bool, known_types: frozenset[str] | None) -> None:
        reason = self.remote_code_reason(known_types)
        if reason and not trust_remote_code:
            raise UsageError(
                f"{self.label}: the model needs remote code ({reason}); "
                "pass --trust-remote-code if you trust this folder"
            )

    # ---------------------------------------------------------------- tokenizer
    @property
    def tokenizer_json(self) -> Path | None:
        path = self.path / "tokenizer.json"
        return path if path.is_file() else None

    @property
    def has_tokenizer(self) -> bool:
        names = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                 "sentencepiece.bpe.model", "tokenizer_config.json")
        return any(self.has(n) for n in names)

    def require_tokenizer(self) -> None:
        if not self.has_tokenizer:
            raise UsageError(f"{self.label}: no tokenizer in {self.path} (tokenizer.json or tokenizer_config.json)")

    @cached_property
    def tokenizer_config(self) -> dict[str, Any]:
        if not self.has("tokenizer_config.json"):
            return {}
        data = _read_json(self.path / "tokenizer_config.json", self.label)
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ sizes
    @property
    def max_positions(self) -> int | None:
        """The longest input the model's position table takes (None: no fixed limit)."""
        for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = self.config.get(key)
            if isinstance(value, int) and value > 0:
                # RoBERTa-style models offset positions by the padding index.
                if self.model_type in ("roberta", "xlm-roberta", "camembert") and key == "max_position_embeddings":
                    return value - 2
                return value
        return None

    # ---------------------------------------------------------------- pooling
    @cached_property
    def pooling(self) -> Pooling:
        mode = "mean"
        normalize = False
        if self.has("1_Pooling/config.json"):
            data = _read_json(self.path / "1_Pooling" / "config.json", self.label)
            if isinstance(data, dict):
                declared = [key.removeprefix("pooling_mode_").removesuffix("_tokens").removesuffix("_token")
                            for key, on in data.items() if key.startswith("pooling_mode_") and on is True]
                declared = ["mean_sqrt_len_tokens" if m == "mean_sqrt_len" else m for m in declared]
                unknown = [m for m in declared if m not in POOLING_MODES]
                if unknown or len(declared) > 1:
                    raise UsageError(f"{self.label}: pooling {' + '.join(declared)} (1_Pooling/config.json) is not "
                                     f"one llmctl computes; it computes one of {', '.join(POOLING_MODES)}")
                if declared:
                    mode = declared[0]
        if self.has("modules.json"):
            modules = _read_json(self.path / "modules.json", self.label)
            if isinstance(modules, list):
                normalize = any(isinstance(m, dict) and str(m.get("type", "")).endswith(".Normalize")
                                for m in modules)
        max_len: int | None = None
        if self.has("sentence_bert_config.json"):
            data = _read_json(self.path / "sentence_bert_config.json", self.label)
            if isinstance(data, dict) and isinstance(data.get("max_seq_length"), int):
                max_len = data["max_seq_length"]
        if max_len is None:
            declared_max = self.tokenizer_config.get("model_max_length")
            if isinstance(declared_max, int) and 0 < declared_max < 1_000_000:
                max_len = declared_max
        positions = self.max_positions
        if positions is not None:
            max_len = min(max_len, positions) if max_len else positions
        return Pooling(mode, normalize, max_len)
