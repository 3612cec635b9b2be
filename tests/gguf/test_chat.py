"""The chat on a real terminal: line editing and history (readline), multi-line input, /save."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmctl.chat import ChatSession
from llmctl.providers.base import CompletionRequest, ModelRef
from llmctl.providers.gguf import GGUFProvider

from .conftest import PYTHON
from .test_run_local import Terminal

pytestmark = pytest.mark.slow
SYSTEM = "You are a helpful assistant."
LEFT, UP, CTRL_A = "\x1b[D", "\x1b[A", "\x01"


@pytest.fixture
def chat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Terminal:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    term = Terminal([PYTHON, "-m", "llmctl", "run-local", "smollm2", "-t", "0", "--n-ctx", "1024",
                     "--max-tokens", "12", "-s", SYSTEM])
    term.read_until(b">>> ")
    return term


def _saved(term: Terminal, path: Path) -> list[dict[str, str]]:
    term.send(f"/save {path}\n")
    assert b"saved" in term.read_until(b">>> ")
    data = json.loads(path.read_text())
    assert data["model"] == "gguf:smollm2"
    return data["messages"]  # type: ignore[no-any-return]


def test_line_editing_and_history(chat: Terminal, tmp_path: Path) -> None:
    # Ctrl-A jumps to the start of the line, the left arrow moves back: the model gets the edited line.
    chat.send(f"capital of France?{CTRL_A}What is the \n")
    assert b"tok/s" in chat.read_until(b">>> ")
    chat.send(f"Hello wrld{LEFT * 3}o\n")
    chat.read_until(b">>> ")
    # Up twice brings back the first question.
    chat.send(f"{UP}{UP}\n")
    chat.read_until(b">>> ")
    messages = _saved(chat, tmp_path / "chat.json")
    users = [m["content"] for m in messages if m["role"] == "user"]
    assert users == ["What is the capital of France?", "Hello world", "What is the capital of France?"]
    assert messages[0] == {"role": "system", "content": SYSTEM}
    chat.send("/exit\n")
    assert chat.wait() == 0
    history = (tmp_path / "state" / "llmctl" / "chat_history").read_text()
    assert "Hello world" in history  # kept for the next chat


def test_multi_line_input_and_markdown_save(chat: Terminal, tmp_path: Path) -> None:
    chat.send("first line \\\n")
    assert b"... " in chat.read_until(b"... ")
    chat.send("second line\n")
    chat.read_until(b">>> ")
    chat.send('"""\n')
    chat.read_until(b"... ")
    chat.send("block a\n")
    chat.read_until(b"... ")
    chat.send("block b\n")
    chat.read_until(b"... ")
    chat.send('"""\n')
    chat.read_until(b">>> ")
    messages = _saved(chat, tmp_path / "chat.json")
    assert [m["content"] for m in messages if m["role"] == "user"] == ["first line \nsecond line",
                                                                       "block a\nblock b"]
    chat.send(f"/save {tmp_path / 'chat.md'}\n")
    chat.read_until(b">>> ")
    markdown = (tmp_path / "chat.md").read_text()
    assert markdown.startswith("# Chat with gguf:smollm2\n")
    assert "## user\n\nblock a\nblock b\n" in markdown
    assert markdown.count("## assistant") == 2
    chat.send("/save\n")
    assert b"/save needs a file name" in chat.read_until(b">>> ")
    chat.send(f"/save {tmp_path / 'no' / 'such' / 'dir.md'}\n")
    assert b"cannot save to" in chat.read_until(b">>> ")
    chat.send("\x04")
    assert chat.wait() == 0


def test_the_chat_session_is_a_library(provider: GGUFProvider, smollm2: ModelRef, tmp_path: Path) -> None:
    """No terminal and no CLI: the conversation, its commands and /save through llmctl.chat alone."""
    session = ChatSession(provider, smollm2, CompletionRequest("", system=SYSTEM, temperature=0, max_tokens=8))
    streamed: list[str] = []
    first = session.ask("My name is Zorblax.", streamed.append)
    assert "".join(streamed) == first.text and first.usage.output_tokens <= 8
    second = session.ask("What is my name?")
    assert second.usage.input_tokens > first.usage.input_tokens  # the first turn is sent again
    assert [m["role"] for m in session.messages()] == ["system", "user", "assistant", "user", "assistant"]
    assert session.command("/save " + str(tmp_path / "c.json")) == f"(saved 2 turns to {tmp_path / 'c.json'})"
    assert json.loads((tmp_path / "c.json").read_text())["messages"] == session.messages()
    assert session.command("/system Be terse.") == "(system prompt set)" and session.template.system == "Be terse."
    assert session.command("/reset") == "(conversation cleared)" and session.history == []
    assert session.command("/exit") is None
    assert session.command("/frobnicate").startswith("unknown command /frobnicate")
