"""Sampling defaults a local model answers with, and the provider interface without hidden state."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.providers import registry
from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.defaults import model_defaults, with_model_defaults
from llmctl.providers.gguf import GGUFProvider
from llmctl.providers.gguf.provider import DEFAULT_MAX_TOKENS
from llmctl.providers.hf import HFProvider
from llmctl.providers.openai import OpenAIProvider
from llmctl.providers.registry import get_tokenizer, resolve_model

from .conftest import PYTHON, ROOT, SMOLLM2

runner = CliRunner()


def _configured_smollm2() -> dict[str, object]:
    import tomllib

    return tomllib.loads((ROOT / "configs" / "models.toml").read_text())["models"]["gguf"]["smollm2"]


def test_the_alias_settings_fill_what_the_user_left_unset() -> None:
    ref = resolve_model("smollm2")
    provider = GGUFProvider({})
    configured = _configured_smollm2()
    filled = with_model_defaults(CompletionRequest("hi"), ref, provider)
    for name in ("temperature", "top_p", "repeat_penalty", "max_tokens", "system"):
        assert getattr(filled, name) == configured[name], name
    mine = with_model_defaults(CompletionRequest("hi", temperature=0.9, max_tokens=7, system="Be brief."), ref,
                               provider)
    assert (mine.temperature, mine.max_tokens, mine.system) == (0.9, 7, "Be brief.")
    assert mine.top_p == configured["top_p"]


def test_a_gguf_without_settings_is_capped(tmp_path: Path) -> None:
    link = tmp_path / "plain.gguf"
    link.symlink_to(SMOLLM2)
    ref = resolve_model(str(link))
    assert model_defaults(ref, GGUFProvider({})) == {"max_tokens": DEFAULT_MAX_TOKENS}


def test_gguf_sampling_metadata_is_read(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "sampled.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_float32("general.sampling.temp", 0.6)
    writer.add_float32("general.sampling.top_p", 0.9)
    writer.add_int32("general.sampling.top_k", 20)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    found = GGUFProvider({}).generation_defaults(resolve_model(f"gguf:{path}"))
    assert found["top_k"] == 20 and found["temperature"] == pytest.approx(0.6) and found["top_p"] == pytest.approx(0.9)


def test_hf_generation_config_is_read(smollm2_hf_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for item in smollm2_hf_dir.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / "generation_config.json").unlink()
    (folder / "generation_config.json").write_text(json.dumps(
        {"do_sample": True, "temperature": 0.3, "top_p": 0.8, "repetition_penalty": 1.05, "max_new_tokens": 64}))
    ref = resolve_model(f"hf:{folder}")
    assert HFProvider({}).generation_defaults(ref) == {"temperature": 0.3, "top_p": 0.8, "repeat_penalty": 1.05,
                                                       "max_tokens": 64}
    (folder / "generation_config.json").write_text(json.dumps({"do_sample": False}))
    assert HFProvider({}).generation_defaults(ref) == {"temperature": 0.0}


@pytest.mark.slow
def test_complete_answers_paris_with_no_flags() -> None:
    for _ in range(3):
        proc = subprocess.run([PYTHON, "-m", "llmctl", "complete", "What is the capital of France?"],
                              capture_output=True, cwd=ROOT, timeout=180)
        assert proc.returncode == 0, proc.stderr
        assert b"Paris" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_a_gguf_without_a_chat_template_stops_at_the_cap(tmp_path: Path) -> None:
    """A raw-completion model would continue until its window is full; the default cap stops it."""
    gguf = pytest.importorskip("gguf")
    from gguf.scripts.gguf_new_metadata import copy_with_new_metadata

    path = tmp_path / "no-template.gguf"
    reader = gguf.GGUFReader(str(SMOLLM2))
    writer = gguf.GGUFWriter(str(path), "llama", endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, {}, ["tokenizer.chat_template"])
    result = runner.invoke(app, ["complete", "--json", "-m", str(path), "--n-ctx", "2048", "--seed", "1",
                                 "--threads", "1", "--temperature", "0", "--repeat-penalty", "1.0",
                                 "Once upon a time, in a small village,"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["usage"]["output_tokens"] <= DEFAULT_MAX_TOKENS


def test_load_builds_what_the_capability_needs_whatever_was_required() -> None:
    ref = resolve_model("smollm2")
    provider = GGUFProvider({"n_ctx": 256})
    try:
        provider.require(ref, "embed")
        provider.load(ref)  # a completion context, as load() says, not what require() saw last
        assert list(provider._chat_models) == [ref.model] and not provider._embed_models
        provider.load(ref, "embed")
        assert list(provider._embed_models) == [ref.model]
    finally:
        provider.close()


class _CountingOpenAI(OpenAIProvider):
    calls = 0

    @classmethod
    def standalone_tokenizer(cls, ref: ModelRef):  # type: ignore[no-untyped-def]
        cls.calls += 1
        return super().standalone_tokenizer(ref)


def test_get_tokenizer_asks_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl.providers.openai.vocab import tiktoken_encoding

    monkeypatch.setitem(registry.PROVIDER_KINDS, "openai", f"{__name__}:_CountingOpenAI")
    tokenizer = get_tokenizer(resolve_model("openai:gpt-4o"))
    assert _CountingOpenAI.calls == 1
    text = "We live in Paris but ewhd here"
    assert tokenizer.encode(text) == tiktoken_encoding("o200k_base").encode(text)
