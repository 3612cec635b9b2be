"""Shared test setup: every test gets its own user config dir; no test reaches the network."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# One cache for the whole session: the tiktoken rank index is built once, not per test.
_SESSION_CACHE = Path(os.environ.get("LLMCTL_TEST_CACHE", "/tmp/llmctl-test-cache"))

_TESTS = Path(__file__).parent
#: Folders where every test opens or builds a model (a real one or a tiny random one).
_MODEL_FOLDERS = frozenset({"hf", "gguf", "quantize"})
#: Fixtures that build or load a model, or start a server on one.
_MODEL_FIXTURES = frozenset({"smollm2_hf_dir", "tiny_sentiment_head", "tiny_nli_head", "tiny_ner_head", "gguf_smollm2",
                             "tiny_chat_model", "tiny_seq2seq", "llama_server", "llmctl_server"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `heavy` every test that opens a model, so `make test-fast` (-m "not slow and not heavy") needs none."""
    for item in items:
        folder = item.path.relative_to(_TESTS).parts[0]
        if folder in _MODEL_FOLDERS or _MODEL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.heavy)


@pytest.fixture(scope="session", autouse=True)
def one_click_command_per_app() -> Iterator[None]:
    """Build each Typer app's Click command once per session, not on every `CliRunner.invoke`.

    Typer's test runner rebuilds the whole command tree from the signatures on each call, which
    measured about 0.1 s for llmctl's app: half the time of a typical CLI test. The tree depends on
    nothing a test changes (defaults are static, the environment is read when a command runs).
    """
    import typer.testing

    real = typer.testing._get_command
    built: dict[Any, Any] = {}  # holds each app, so an id is never reused for another

    def cached(app: Any) -> Any:
        if app not in built:
            built[app] = real(app)
        return built[app]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", cached)
        yield


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the user config at an empty temp dir and drop keys and defaults from the environment."""
    config_home = tmp_path / "xdg-config"
    config_home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_SESSION_CACHE))
    # The usage log and the response cache live in the data dir: one per test.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for var in ("LLMCTL_CONFIG", "LLMCTL_MODEL", "OPENAI_API_KEY", "MISTRAL_API_KEY", "LLMCTL_DEBUG",
                "OPENAI_BASE_URL", "OPENAI_ORG_ID", "MISTRAL_SA_TOKEN_PATH", "LLMCTL_NO_LOG"):
        monkeypatch.delenv(var, raising=False)
    from llmctl.core import config

    config.get_config.cache_clear()
    from llmctl.providers import registry

    registry._PROVIDER_CACHE.clear()
    return config_home


@pytest.fixture
def user_config(isolated_user_dirs: Path):
    """Write the user's config.toml for one test: `user_config('[aliases]\\nx = "openai:gpt-4o"')`."""

    def write(text: str) -> Path:
        path = isolated_user_dirs / "llmctl" / "config.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        from llmctl.core import config

        config.get_config.cache_clear()
        return path

    return write


@pytest.fixture(scope="session")
def smollm2_hf_dir() -> Path:
    """SmolLM2-135M-Instruct as a real HF folder (built once, kept in the test cache)."""
    from support.smollm2_hf import build_smollm2_hf

    return build_smollm2_hf(_SESSION_CACHE / "smollm2-hf")


@pytest.fixture(scope="session")
def real_tiktoken():  # type: ignore[no-untyped-def]
    """tiktoken.get_encoding itself, offline: its download cache filled from the verified bundled files.

    tiktoken checks each file against its own pinned sha256 and uses its own pattern strings, so
    nothing of llmctl's (the patterns, the loader) stands between a test and tiktoken.
    """
    import gzip
    import hashlib

    import tiktoken
    import tiktoken_ext.openai_public as public

    from llmctl.providers.openai.vocab import bundled_vocab_file

    cache = _SESSION_CACHE / "tiktoken-download-cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("o200k_base", "cl100k_base"):
        url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
        target = cache / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            target.write_bytes(gzip.decompress(bundled_vocab_file(name).read_bytes()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
        encodings = {name: tiktoken.get_encoding(name) for name in ("o200k_base", "cl100k_base")}
        assert encodings["o200k_base"]._pat_str == public.o200k_base()["pat_str"]
    return encodings
