"""Templates: `complete --save NAME`, `--template NAME -p NAME VALUE`, `llmctl templates list|show|edit|rm`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from support.scripted_run import ScriptedProvider, run


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    requests: list[Any] = []
    real = ScriptedProvider.complete

    def spy(self, ref, request, on_text=None):  # type: ignore[no-untyped-def]
        requests.append(request)
        return real(self, ref, request, on_text)

    monkeypatch.setattr(ScriptedProvider, "complete", spy)
    return requests


def _folder(isolated_user_dirs: Path) -> Path:
    return isolated_user_dirs / "llmctl" / "templates"


def test_save_then_use_with_parameters(isolated_user_dirs: Path, sent: list[Any]) -> None:
    saved = run("complete", "-m", "scripted:chat", "-s", "You are terse.", "--temperature", "0.5",
                "Explain $topic to $who", "--save", "explain")
    assert saved.exit_code == 0 and sent == []  # --save sends nothing
    path = _folder(isolated_user_dirs) / "explain.toml"
    assert tomllib.loads(path.read_text()) == {"system": "You are terse.", "prompt": "Explain $topic to $who",
                                               "model": "scripted:chat", "options": {"temperature": 0.5}}
    used = run("complete", "--template", "explain", "-p", "topic", "BPE", "-p", "who", "a child")
    assert used.exit_code == 0, used.stderr
    assert used.stdout == "EXPLAIN BPE TO A CHILD\n"
    assert (sent[0].prompt, sent[0].system, sent[0].temperature) == ("Explain BPE to a child", "You are terse.", 0.5)
    # The command line wins over the template.
    run("complete", "--template", "explain", "-p", "topic", "x", "-p", "who", "y", "--temperature", "0.9",
        "-s", "Be long.")
    assert (sent[1].temperature, sent[1].system) == (0.9, "Be long.")


def test_missing_and_unknown_parameters_are_exit_2(sent: list[Any]) -> None:
    run("complete", "-m", "scripted:chat", "Explain $topic", "--save", "explain")
    missing = run("complete", "--template", "explain")
    assert missing.exit_code == 2
    assert missing.stderr == "llmctl: error: template explain needs topic: give -p topic VALUE\n"
    unknown = run("complete", "--template", "explain", "-p", "topic", "a", "-p", "colour", "red")
    assert unknown.exit_code == 2 and "template explain has no parameter 'colour'" in unknown.stderr
    odd = run("complete", "--template", "explain", "-p", "topic")
    assert odd.exit_code == 2
    assert run("complete", "--template", "nothing-here").exit_code == 2
    assert sent == []


def test_input_fills_dollar_input_or_is_appended(isolated_user_dirs: Path, sent: list[Any]) -> None:
    folder = _folder(isolated_user_dirs)
    folder.mkdir(parents=True)
    (folder / "sum.toml").write_text('prompt = "Summarise: $input"\nmodel = "scripted:chat"\n')
    (folder / "fr.toml").write_text('prompt = "In French:"\nmodel = "scripted:chat"\n[defaults]\n')
    run("complete", "--template", "sum", "frogs sing")
    run("complete", "--template", "fr", "frogs sing")
    run("complete", "--template", "fr", input="piped text\n")
    assert [r.prompt for r in sent] == ["Summarise: frogs sing", "In French:\n\nfrogs sing",
                                        "In French:\n\npiped text"]


def test_a_broken_template_is_exit_3_naming_file_and_line(isolated_user_dirs: Path) -> None:
    folder = _folder(isolated_user_dirs)
    folder.mkdir(parents=True)
    (folder / "bad.toml").write_text('system = "fine"\nprompt = "unclosed\n')
    result = run("complete", "--template", "bad")
    assert result.exit_code == 3
    assert result.stderr.startswith(f"llmctl: error: {folder / 'bad.toml'}: not valid TOML: ")
    assert "line 2" in result.stderr
    (folder / "odd.toml").write_text('prompt = "x"\ntemprature = 1\n')
    odd = run("complete", "--template", "odd")
    assert odd.exit_code == 3 and "unknown key 'temprature'" in odd.stderr
    listed = run("templates", "list")
    assert listed.exit_code == 0 and "bad.toml: not valid TOML" in listed.stderr


def test_templates_list_show_edit_rm(isolated_user_dirs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("complete", "-s", "Line one\nline two", "Tell me about $thing", "--save", "about")
    listed = [json.loads(line) for line in run("templates", "list", "--json").stdout.splitlines()]
    assert [(t["name"], t["parameters"]) for t in listed] == [("about", ["thing"])]
    shown = run("templates", "show", "about").stdout
    assert tomllib.loads(shown)["system"] == "Line one\nline two"
    monkeypatch.setenv("EDITOR", "sh -c 'printf \"prompt = \\\"edited \\$x\\\"\\n\" > \"$0\"'")
    monkeypatch.delenv("VISUAL", raising=False)
    assert run("templates", "edit", "about").exit_code == 0
    assert json.loads(run("templates", "show", "about", "--json").stdout)["prompt"] == "edited $x"
    monkeypatch.setenv("EDITOR", "sh -c 'printf \"prompt = \\\"broken\\n\" > \"$0\"'")
    broken = run("templates", "edit", "about")
    assert broken.exit_code == 3 and "line 1" in broken.stderr
    removed = run("templates", "rm", "about")
    assert removed.exit_code == 0 and not (_folder(isolated_user_dirs) / "about.toml").exists()
    assert run("templates", "rm", "about").exit_code == 2
    assert run("templates", "show", "../etc/passwd").exit_code == 2
