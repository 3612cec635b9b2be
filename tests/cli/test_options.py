"""Typed backend options: a foreign option is exit 2 naming what the backend takes, ranges are
checked once, defaults come from the models and show in --help, config settings go through them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import UsageError
from llmctl.core.usage import Usage
from llmctl.providers import registry
from llmctl.providers.base import Completion, CompletionRequest, ModelRef, Provider, Tokenizer
from llmctl.providers.options import GGUFOptions, HFOptions, HostedOptions, SamplingOptions

runner = CliRunner()

OPENAI_TAKES = "it takes --base-url, --timeout, --max-retries, --max-wait, --retry-timeouts, --concurrency"
GGUF_TAKES = "it takes --n-ctx, --threads, --n-gpu-layers"


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input, catch_exceptions=False)


class RecordingProvider(Provider):
    """An API-like backend that echoes the prompt and keeps every request it was sent."""

    kind = "recording"
    options_model = HostedOptions
    requests: list[CompletionRequest] = []

    def tokenizer(self, ref: ModelRef) -> Tokenizer:
        raise NotImplementedError

    def complete(self, ref, request, on_text=None):
        type(self).requests.append(request)
        return Completion(request.prompt, Usage(1, 1), "stop", ref.model)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch, user_config) -> type[RecordingProvider]:
    monkeypatch.setitem(registry.PROVIDER_KINDS, "recording", f"{__name__}:RecordingProvider")
    user_config('[providers.recording]\nkind = "recording"\n\n'
                '[models.recording."chat-1"]\ncontext_window = 100\ncapabilities = ["complete", "tokenize"]\n')
    RecordingProvider.requests = []
    return RecordingProvider


@pytest.mark.parametrize("flags", [
    ["--n-ctx", "512"], ["--threads", "2"], ["--device", "cuda"], ["--n-gpu-layers", "5"],
    ["--allow-pickle"], ["--trust-remote-code"],
])
def test_local_options_on_an_api_model_are_exit_2(flags: list[str]) -> None:
    result = run("complete", "-m", "openai:gpt-4o", *flags, "hi")
    assert result.exit_code == 2
    flag = flags[0]
    assert result.stderr == (f"llmctl: error: {flag} does not apply to openai:gpt-4o (the openai backend); "
                             f"{OPENAI_TAKES}\n")
    assert result.stdout == ""


def test_every_foreign_option_is_named_at_once() -> None:
    result = run("complete", "-m", "openai:gpt-4o", "--n-ctx", "512", "--threads", "2", "--device", "cuda",
                 "--n-gpu-layers", "5", "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith("llmctl: error: --n-ctx, --threads, --n-gpu-layers, --device do not apply "
                                    "to openai:gpt-4o")


@pytest.mark.parametrize(("flags", "named"), [
    (["--base-url", "http://127.0.0.1:9/v1"], "--base-url"),
    (["--timeout", "5"], "--timeout"),
    (["--max-retries", "1"], "--max-retries"),
    (["--concurrency", "2"], "--concurrency"),
    (["--device", "cpu"], "--device"),
])
def test_api_options_on_the_local_model_are_exit_2(flags: list[str], named: str) -> None:
    result = run("complete", "-m", "smollm2", *flags, "hi")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"llmctl: error: {named} does not apply to gguf:smollm2 (the gguf backend); "
                                    f"{GGUF_TAKES}")


def test_embed_refuses_foreign_options_too() -> None:
    result = run("embed", "-m", "minilm", "--n-ctx", "64", "hi")
    assert result.exit_code == 2
    assert "--n-ctx does not apply to hf:minilm (the hf backend); it takes --device, --threads" in result.stderr


def test_tokenize_refuses_trust_remote_code_for_an_api_tokenizer() -> None:
    result = run("tokenize", "-m", "openai:gpt-4o", "--trust-remote-code", "hi")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: --trust-remote-code does not apply to openai:gpt-4o (the openai " \
                            f"backend); {OPENAI_TAKES}\n"


@pytest.mark.parametrize(("flags", "message"), [
    (["--top-p", "0"], "--top-p must be in (0, 1], not 0"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1], not 1.5"),
    (["--top-k", "0"], "--top-k must be at least 1, not 0"),
    (["--temperature", "-0.5"], "--temperature must be at least 0, not -0.5"),
    (["--repeat-penalty", "0"], "--repeat-penalty must be more than 0, not 0"),
    (["--max-tokens", "0"], "--max-tokens must be at least 1, not 0"),
])
@pytest.mark.parametrize("model", ["openai:gpt-4o", "smollm2", "recording:chat-1"])
def test_sampling_ranges_are_one_check_for_every_backend(recording, model: str, flags: list[str],
                                                         message: str) -> None:
    result = run("complete", "-m", model, *flags, "hi")
    assert result.exit_code == 2
    assert result.stderr == f"llmctl: error: {message}\n"
    assert recording.requests == []


def test_a_request_made_in_python_is_checked_the_same_way() -> None:
    with pytest.raises(UsageError) as err:
        CompletionRequest("hi", top_p=0)
    assert err.value.one_line() == "--top-p must be in (0, 1], not 0"
    with pytest.raises(UsageError, match="--stop needs a non-empty text"):
        CompletionRequest("hi", stop=[""])


@pytest.mark.parametrize(("flags", "message"), [
    (["--timeout", "-1"], "--timeout must be more than 0, not -1"),
    (["--max-retries", "-1"], "--max-retries must be at least 0, not -1"),
    (["--concurrency", "0"], "--concurrency must be at least 1, not 0"),
])
def test_backend_option_ranges(recording, flags: list[str], message: str) -> None:
    result = run("complete", "-m", "recording:chat-1", *flags, "hi")
    assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {message}\n")


@pytest.mark.parametrize(("flags", "message"), [
    (["--n-ctx", "0"], "--n-ctx must be at least 1, not 0"),
    (["--threads", "0"], "--threads must be at least 1, not 0"),
    (["--n-gpu-layers", "-2"], "--n-gpu-layers must be at least -1, not -2"),
])
def test_gguf_option_ranges(flags: list[str], message: str) -> None:
    result = run("complete", "-m", "smollm2", *flags, "hi")
    assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {message}\n")


def test_options_reach_the_backend_typed_with_defaults(recording) -> None:
    result = run("complete", "-m", "recording:chat-1", "--timeout", "7.5", "hi")
    assert result.exit_code == 0
    provider = registry.get_provider(registry.resolve_model("recording:chat-1"), {"timeout": 7.5})
    assert isinstance(provider.options, HostedOptions)
    assert (provider.options.timeout, provider.options.max_retries, provider.options.concurrency) == (
        7.5, HostedOptions.model_fields["max_retries"].default, HostedOptions.model_fields["concurrency"].default)


def test_models_forbid_unknown_fields() -> None:
    for cls in (GGUFOptions, HFOptions, HostedOptions, SamplingOptions):
        assert cls.model_config.get("extra") == "forbid"
    with pytest.raises(UsageError, match="--device does not apply to the gguf backend"):
        registry.provider_class("gguf")({"device": "cpu"})


def test_help_shows_defaults_and_backends_from_the_models() -> None:
    result = run("complete", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    timeout = HostedOptions.model_fields["timeout"].default
    retries = HostedOptions.model_fields["max_retries"].default
    assert (f"Seconds to wait for a response (connecting: 5 s). [anthropic, gemini, mistral, openai; default: "
            f"{timeout:g}]") in text
    assert f"[anthropic, gemini, mistral, openai; default: {retries}]" in text
    assert f"[hf; default: {HFOptions.model_fields['device'].default}]" in text
    assert "Layers to put on the GPU (-1: all). [gguf; default: 0]" in text
    assert "Nucleus sampling mass, in (0, 1]. [default: the model's own]" in text
    assert "--each" in text


def test_a_profile_goes_through_the_same_model(user_config) -> None:
    path = user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimeout = "fast"\n')
    result = run("complete", "-m", "local:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == f"llmctl: error: {path}: [profiles.local] timeout must be a number, not 'fast'\n"


def test_a_profile_with_an_unknown_key_is_exit_3(user_config) -> None:
    path = user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimout = 5\n')
    result = run("tokenize", "-m", "local:any", "hi")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"llmctl: error: {path}: [profiles.local] unknown key 'timout'; the openai "
                                    "backend takes: kind, base_url, timeout, max_retries, max_wait, retry_timeouts, "
                                    "concurrency, key_env")


def test_profile_settings_are_defaults_the_command_line_overrides(user_config) -> None:
    user_config('[profiles.local]\nkind = "openai"\nbase_url = "http://127.0.0.1:9/v1"\ntimeout = 9\n'
                'max_retries = 0\n')
    ref = registry.resolve_model("local:any")
    assert registry.provider_options(ref).timeout == 9
    assert registry.provider_options(ref, {"timeout": 2}).timeout == 2
    assert registry.provider_options(ref).max_retries == 0


def test_model_settings_go_through_a_typed_model(user_config) -> None:
    path = user_config('[models.gguf.smollm2]\ncontext_window = "big"\n')
    result = run("complete", "-m", "smollm2", "hi")
    assert result.exit_code == 3
    assert result.stderr == (f'llmctl: error: {path}: [models.gguf."smollm2"] context_window must be a whole '
                             "number, not 'big'\n")
    user_config('[models.gguf.smollm2]\ntemprature = 0.2\n')
    result = run("complete", "-m", "smollm2", "hi")
    assert result.exit_code == 3
    assert "unknown key 'temprature'; expected one of: max_tokens, temperature" in result.stderr
