"""Keys go only where they belong: what a capturing loopback server receives, and what errors say."""

from __future__ import annotations

import httpx2
import pytest
from support.api_wire import ANTHROPIC_KEY, GEMINI_KEY, MISTRAL_KEY, OPENAI_KEY, Recorder, fixture_json
from support.fault_server import CHAT_ANSWER, FaultServer
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.errors import ProviderError
from llmctl.providers.base import CompletionRequest, EmbeddingRequest

pytestmark = pytest.mark.usefixtures("keys")

KINDS = ["openai", "mistral", "anthropic", "gemini"]
EMBED_KINDS = ["openai", "mistral"]
#: The header each provider's key travels in, and how it is written there.
KEY_HEADER = {"openai": ("authorization", "Bearer {}"), "mistral": ("authorization", "Bearer {}"),
              "anthropic": ("x-api-key", "{}"), "gemini": ("x-goog-api-key", "{}")}
PROFILE_KEY = "Zx9ProfileKey0123456789abcdefGHIJ"


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _key_headers(faults: FaultServer) -> list[dict[str, str]]:
    return [{k: v for k, v in seen.headers.items() if k in ("authorization", "api-key", "x-api-key", "x-goog-api-key")}
            for seen in faults.seen]


@pytest.mark.parametrize("kind", KINDS)
def test_base_url_host_gets_no_key(faults: FaultServer, kind: str) -> None:
    faults.script("chat")
    result = _cli("complete", "--base-url", faults.base_url, "-m", f"{kind}:local", "--quiet", "hi")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == CHAT_ANSWER + "\n"
    assert _key_headers(faults) == [{}]


@pytest.mark.parametrize("kind", EMBED_KINDS)
def test_base_url_host_gets_no_key_for_embeddings(faults: FaultServer, kind: str) -> None:
    faults.script("embed")
    result = _cli("embed", "--base-url", faults.base_url, "-m", f"{kind}:local", "--quiet", "a")
    assert result.exit_code == 0, result.stderr
    assert _key_headers(faults) == [{}]


@pytest.mark.parametrize("kind", KINDS)
def test_profile_without_key_env_gets_no_key(faults: FaultServer, kind: str, user_config) -> None:
    user_config(f'[profiles.loop]\nkind = "{kind}"\nbase_url = "{faults.base_url}"\n')
    faults.script("chat")
    result = _cli("complete", "-m", "loop:any", "--quiet", "hi")
    assert result.exit_code == 0, result.stderr
    assert _key_headers(faults) == [{}]


@pytest.mark.parametrize("kind", KINDS)
def test_profile_gets_the_key_it_names_and_no_other(faults: FaultServer, kind: str, user_config,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    user_config(f'[profiles.loop]\nkind = "{kind}"\nbase_url = "{faults.base_url}"\nkey_env = "LOOP_KEY"\n')
    monkeypatch.setenv("LOOP_KEY", PROFILE_KEY)
    faults.script("chat")
    result = _cli("complete", "-m", "loop:any", "--quiet", "hi")
    assert result.exit_code == 0, result.stderr
    name, shape = KEY_HEADER[kind]
    assert _key_headers(faults) == [{name: shape.format(PROFILE_KEY)}]


@pytest.mark.parametrize("kind", KINDS)
def test_profile_key_does_not_follow_a_base_url_elsewhere(faults: FaultServer, kind: str, user_config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    user_config(f'[profiles.loop]\nkind = "{kind}"\nbase_url = "http://10.0.0.5:8000/v1"\nkey_env = "LOOP_KEY"\n')
    monkeypatch.setenv("LOOP_KEY", PROFILE_KEY)
    faults.script("chat")
    result = _cli("complete", "-m", "loop:any", "--base-url", faults.base_url, "--quiet", "hi")
    assert result.exit_code == 0, result.stderr
    assert _key_headers(faults) == [{}]


@pytest.mark.parametrize("kind", KINDS)
def test_401_from_a_base_url_host_says_no_key_was_sent(faults: FaultServer, kind: str) -> None:
    faults.script("401")
    result = _cli("complete", "--base-url", faults.base_url, "-m", f"{kind}:local", "hi")
    assert result.exit_code == 3
    own = {"openai": ("OPENAI_API_KEY", "api.openai.com"), "mistral": ("MISTRAL_API_KEY", "api.mistral.ai"),
           "anthropic": ("ANTHROPIC_API_KEY", "api.anthropic.com"),
           "gemini": ("GEMINI_API_KEY", "generativelanguage.googleapis.com")}[kind]
    assert result.stderr == (
        f"llmctl: error: {kind}:local: authentication failed (401): Unauthorized (no key was sent to "
        f"127.0.0.1:{faults.port}; {own[0]} goes only to {own[1]}, so a server that needs a key is a profile "
        "with key_env)\n")


@pytest.mark.parametrize("kind", KINDS)
def test_401_names_the_profile_key_that_was_sent_and_redacts_its_echo(faults: FaultServer, kind: str, user_config,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    user_config(f'[profiles.loop]\nkind = "{kind}"\nbase_url = "{faults.base_url}"\nkey_env = "LOOP_KEY"\n')
    monkeypatch.setenv("LOOP_KEY", PROFILE_KEY)
    faults.script("401:echo")
    result = _cli("complete", "-m", "loop:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == ("llmctl: error: loop:any: authentication failed (401): Incorrect API key provided: "
                             "[redacted] (check LOOP_KEY)\n")


@pytest.mark.parametrize("kind", KINDS)
def test_body_that_is_not_json_is_redacted(faults: FaultServer, kind: str, user_config,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    user_config(f'[profiles.loop]\nkind = "{kind}"\nbase_url = "{faults.base_url}"\nkey_env = "LOOP_KEY"\n')
    monkeypatch.setenv("LOOP_KEY", PROFILE_KEY)
    faults.script("notjson:echo")
    result = _cli("complete", "-m", "loop:any", "--max-retries", "0", "hi")
    assert result.exit_code == 4
    assert PROFILE_KEY not in result.stderr and "ProfileKey" not in result.stderr
    assert "bad gateway for [redacted]" in result.stderr


def test_a_redirect_to_another_host_loses_the_key(recorder: Recorder, open_model) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "api.openai.com":
            # An attacker-controlled redirect: the key must not be re-attached for the new host.
            return httpx2.Response(307, headers={"location": "http://127.0.0.1:9/v1/chat/completions"})
        return httpx2.Response(200, json=fixture_json("openai_chat.json"))

    recorder.answer_with(answer)
    ref, provider = open_model("openai:gpt-4o-mini")
    provider.complete(ref, CompletionRequest("hi"))
    first, second = recorder.requests
    assert first.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert second.url.host == "127.0.0.1" and "authorization" not in second.headers


def test_the_providers_own_host_gets_its_own_key(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("mistral_embeddings.json"))
    ref, provider = open_model("mistral:mistral-embed")
    provider.embed(ref, EmbeddingRequest(["frog", "night"]))
    assert recorder.requests[0].headers["authorization"] == f"Bearer {MISTRAL_KEY}"
    assert OPENAI_KEY not in str(recorder.requests[0].headers)


def test_an_error_never_prints_any_known_key(recorder: Recorder, open_model) -> None:
    # A proxy in front of OpenAI that prints back every credential it can find.
    recorder.reply(500, json_body={"error": {"message": f"upstream said {OPENAI_KEY} and {MISTRAL_KEY}"}})
    ref, provider = open_model("openai:gpt-4o-mini", max_retries=0)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    line = err.value.one_line()
    assert OPENAI_KEY not in line and MISTRAL_KEY not in line and "SECRET" not in line
    assert line == ("openai:gpt-4o-mini: server error (500) after 1 attempt(s): upstream said [redacted] and "
                    "[redacted]")


def test_missing_profile_key_is_still_exit_3(faults: FaultServer, user_config) -> None:
    user_config(f'[profiles.loop]\nkind = "mistral"\nbase_url = "{faults.base_url}"\nkey_env = "LOOP_KEY"\n')
    result = _cli("complete", "-m", "loop:any", "hi")
    assert result.exit_code == 3
    assert result.stderr == ("llmctl: error: LOOP_KEY is not set; the profile 'loop' needs an API key "
                             "(export LOOP_KEY=... in your shell)\n")
    assert faults.seen == []


def test_the_providers_own_host_written_with_its_port_still_gets_the_key(recorder: Recorder, open_model) -> None:
    recorder.reply(json_body=fixture_json("openai_chat.json"))
    ref, provider = open_model("openai:gpt-4o-mini", base_url="https://API.openai.com:443/v1")
    provider.complete(ref, CompletionRequest("hi"))
    assert recorder.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"


@pytest.mark.parametrize(("name", "fixture", "header", "key"), [
    ("anthropic:claude-sonnet-4-5", "anthropic_messages.json", "x-api-key", ANTHROPIC_KEY),
    ("gemini:gemini-2.5-flash", "gemini_generate.json", "x-goog-api-key", GEMINI_KEY),
])
def test_a_redirect_to_another_host_loses_a_native_key_header(recorder: Recorder, open_model, name: str,
                                                               fixture: str, header: str, key: str) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.url.host != "127.0.0.1":
            return httpx2.Response(307, headers={"location": "http://127.0.0.1:9/v1/elsewhere"})
        return httpx2.Response(200, json=fixture_json(fixture))

    recorder.answer_with(answer)
    ref, provider = open_model(name)
    provider.complete(ref, CompletionRequest("hi", max_tokens=5))
    first, second = recorder.requests
    assert first.headers[header] == key
    assert second.url.host == "127.0.0.1"
    assert not {"authorization", "x-api-key", "x-goog-api-key"} & set(second.headers)


def test_an_error_never_prints_the_anthropic_or_gemini_key(recorder: Recorder, open_model) -> None:
    recorder.reply(500, json_body={"error": {"message": f"upstream saw {ANTHROPIC_KEY} and {GEMINI_KEY}"}})
    ref, provider = open_model("openai:gpt-4o-mini", max_retries=0)
    with pytest.raises(ProviderError) as err:
        provider.complete(ref, CompletionRequest("hi"))
    assert err.value.one_line() == ("openai:gpt-4o-mini: server error (500) after 1 attempt(s): upstream saw "
                                    "[redacted] and [redacted]")
