"""`run-local --serve` answers with the alias's defaults (as `complete` does) and asks for its API key.

The reference for what the server should send the model is llama-cpp-python's own
`create_chat_completion` on the same messages and settings, with the model loaded here."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from llmctl.providers.registry import resolve_model

from .conftest import PYTHON, ROOT, SMOLLM2
from .test_serve import Served

pytestmark = pytest.mark.slow

QUESTION = "What is the capital of France?"
KEY = "k-5f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMCTL_SERVE_KEY", raising=False)


def _request(served: Served, path: str, body: dict[str, object] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(served.base + path, data=data,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _reference(messages: list[dict[str, str]], **settings: object) -> dict[str, object]:
    """llama-cpp-python's own chat completion of the embedded model (the same n_ctx as the server's)."""
    import llama_cpp

    from llmctl.providers.gguf import engine

    with engine.model_params_patch():
        llm = llama_cpp.Llama(str(SMOLLM2), n_ctx=512, verbose=False)
    try:
        return llm.create_chat_completion(messages=messages, **settings)  # type: ignore[return-value]
    finally:
        llm.close()


def test_the_server_answers_with_the_alias_defaults_as_complete_does() -> None:
    user = {"role": "user", "content": QUESTION}
    own_system = {"role": "system", "content": "Answer with one word."}
    served = Served()
    try:
        status, bare = _request(served, "/chat/completions", {"model": "smollm2", "messages": [user]})
        # What a request sets wins: its own system message and its own cap.
        own_status, own = _request(served, "/chat/completions",
                                   {"model": "smollm2", "messages": [own_system, user], "max_tokens": 3})
    finally:
        served.close()
    assert status == 200 and own_status == 200, (bare, own)
    spec = resolve_model("smollm2").spec  # the alias's settings, as configs/models.toml gives them
    settings = {"temperature": spec["temperature"], "top_p": spec["top_p"], "repeat_penalty": spec["repeat_penalty"],
                "max_tokens": spec["max_tokens"]}
    reference = _reference([{"role": "system", "content": spec["system"]}, user], **settings)
    answer = bare["choices"][0]["message"]["content"]  # type: ignore[index]
    assert "Paris" in answer
    assert answer == reference["choices"][0]["message"]["content"]  # type: ignore[index]
    assert bare["usage"]["prompt_tokens"] == reference["usage"]["prompt_tokens"]  # type: ignore[index]

    # `complete -m smollm2` sends the very same prompt and gets the same answer.
    done = subprocess.run([PYTHON, "-m", "llmctl", "complete", "-m", "smollm2", "--n-ctx", "512", "--json", QUESTION],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["usage"]["input_tokens"] == bare["usage"]["prompt_tokens"]  # type: ignore[index]
    assert record["text"].strip() == answer.strip()

    with_own = _reference([own_system, user], **{**settings, "max_tokens": 3})
    assert own["usage"]["prompt_tokens"] == with_own["usage"]["prompt_tokens"]  # type: ignore[index]
    assert own["usage"]["prompt_tokens"] != bare["usage"]["prompt_tokens"]  # type: ignore[index]
    assert own["usage"]["completion_tokens"] <= 3  # type: ignore[index]


def _cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_a_key_is_asked_on_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCTL_SERVE_KEY", KEY)
    served = Served()
    try:
        no_key = _request(served, "/models")
        wrong = _request(served, "/chat/completions", {"model": "smollm2", "max_tokens": 2,
                                                       "messages": [{"role": "user", "content": "Hi"}]},
                         {"Authorization": "Bearer not-the-key"})
        right = _request(served, "/chat/completions", {"model": "smollm2", "max_tokens": 2,
                                                       "messages": [{"role": "user", "content": "Hi"}]},
                         {"Authorization": f"Bearer {KEY}"})
        listed = _request(served, "/models", headers={"Authorization": f"Bearer {KEY}"})
        child_args = b"".join(_cmdline(pid) for pid in served.children)
    finally:
        served.close()
    for status, body in (no_key, wrong):
        assert status == 401
        error = body["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "invalid_request_error"  # type: ignore[index]
        assert KEY not in json.dumps(body) and "not-the-key" not in json.dumps(body)
    assert right[0] == 200 and right[1]["usage"]["completion_tokens"] > 0  # type: ignore[index]
    assert listed[0] == 200
    assert KEY.encode() not in child_args  # the child gets it in its environment, not on its command line


def test_llmctl_calls_a_keyed_server_through_a_profile(monkeypatch: pytest.MonkeyPatch, user_config) -> None:  # type: ignore[no-untyped-def]
    served = Served("--api-key", KEY)
    try:
        user_config(f'[profiles.local]\nkind = "openai"\nbase_url = "{served.base}"\nkey_env = "LOCAL_KEY"\n')
        monkeypatch.setenv("LOCAL_KEY", KEY)
        ok = subprocess.run([PYTHON, "-m", "llmctl", "complete", "-m", "local:smollm2", "--max-tokens", "4", "Hi"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
        monkeypatch.setenv("LOCAL_KEY", "wrong")
        refused = subprocess.run([PYTHON, "-m", "llmctl", "complete", "-m", "local:smollm2", "--max-tokens", "4",
                                  "Hi"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        served.proc.terminate()
        _, parent_err = served.proc.communicate(timeout=30)
    finally:
        served.close()
    assert ok.returncode == 0, ok.stderr
    assert refused.returncode == 3, refused.stderr
    assert KEY.encode() not in parent_err and KEY not in ok.stderr + refused.stderr


def test_a_non_loopback_address_without_a_key_warns() -> None:
    served = Served("--host", "0.0.0.0")
    try:
        status, _ = _request(served, "/models")  # traffic only ever goes to 127.0.0.1
    finally:
        served.close()
    assert status == 200
    assert served.before == [f"warning: serving on 0.0.0.0 with no API key: anyone who can reach port "
                             f"{served.port} can use the model; set LLMCTL_SERVE_KEY (or --api-key) to require "
                             "one\n".encode()]


def test_a_key_silences_the_warning_and_loopback_needs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMCTL_SERVE_KEY", KEY)
    keyed = Served("--host", "0.0.0.0")
    keyed.close()
    monkeypatch.delenv("LLMCTL_SERVE_KEY")
    plain = Served("--host", "localhost")
    plain.close()
    assert keyed.before == [] and plain.before == []


def test_api_key_outside_serve_or_empty_is_exit_2() -> None:
    for args, line in ((["--api-key", KEY, "Hi"], "llmctl: error: --api-key applies to --serve only\n"),
                       (["--serve", "--api-key", " "], "llmctl: error: --api-key is empty; give a key, or leave "
                                                       "the option out\n")):
        done = subprocess.run([PYTHON, "-m", "llmctl", "run-local", "smollm2", *args], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2 and done.stderr == line and KEY not in done.stderr
