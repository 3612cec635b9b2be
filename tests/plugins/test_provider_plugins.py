"""Providers as plugins: a package outside llmctl, found through the `llmctl.providers` entry point group.

Each test builds a distribution the way pip leaves one on disk (a module beside a `.dist-info`
folder holding `entry_points.txt`) in tmp_path and puts that folder on PYTHONPATH of a real
`llmctl` process: importlib.metadata finds it there exactly as it finds an installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: A provider written as a third party would: it reverses the prompt, one token a character.
FOO = '''
from llmctl.core.usage import Usage
from llmctl.providers.base import Completion, Provider, Tokenizer


class CharTokenizer(Tokenizer):
    name = "foo-chars"

    def encode(self, text):
        return [ord(c) % 256 for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)

    def token_bytes(self, token_id):
        return bytes([token_id])

    @property
    def vocab_size(self):
        return 256


class FooProvider(Provider):
    kind = "foo"
    prefixes = ("foo-",)

    @classmethod
    def unlisted_spec(cls, provider, model):
        return {"context_window": 1000, "max_output": 50, "capabilities": ["complete", "tokenize"]}

    @classmethod
    def listed_models(cls):
        return ["bar", "baz"]

    def tokenizer(self, ref):
        return CharTokenizer()

    def complete(self, ref, request, on_text=None):
        text = request.prompt[::-1]
        return Completion(text, Usage(len(request.prompt), len(text)), "stop", ref.model)
'''

BROKEN = "raise ImportError('the backend library is missing')\n"


def make_dist(root: Path, name: str, version: str, entries: dict[str, str], modules: dict[str, str]) -> Path:
    """A distribution as installed: its modules and NAME-VERSION.dist-info with its entry points."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = "".join(f"{key} = {value}\n" for key, value in entries.items())
    (info / "entry_points.txt").write_text(f"[llmctl.providers]\n{lines}")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(source)
    return root


def llmctl(paths: list[Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*map(str, paths), str(ROOT)]))
    return subprocess.run([sys.executable, "-m", "llmctl", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def foo_dist(tmp_path: Path) -> Path:
    return make_dist(tmp_path / "foo", "llmctl-foo", "1.2.0", {"foo": "llmctl_foo:FooProvider"}, {"llmctl_foo": FOO})


@pytest.mark.heavy  # llmctl processes with the plugin installed
def test_an_outside_provider_completes_tokenizes_estimates_compares_and_is_logged(tmp_path: Path,
                                                                                  user_config) -> None:
    user_config('[prices.foo."bar"]\ninput = "1000000"\noutput = "2000000"\nas_of = "2026-11-01"\n'
                'source = "test"\n')
    site = foo_dist(tmp_path)

    done = llmctl([site], "complete", "--json", "-m", "foo:bar", "hello")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["text"] == "olleh"
    assert (record["usage"]["input_tokens"], record["usage"]["output_tokens"]) == (5, 5)
    assert record["cost"]["total"] == 15  # 5 x $1 + 5 x $2 per token, as the user's price table says

    counted = llmctl([site], "tokenize", "--json", "-m", "foo:bar", "hello world")
    assert counted.returncode == 0, counted.stderr
    assert json.loads(counted.stdout)["tokens"] == len("hello world")

    estimate = llmctl([site], "complete", "--estimate", "--json", "-m", "foo:bar", "--max-tokens", "7", "abc de")
    assert estimate.returncode == 0, estimate.stderr
    guess = json.loads(estimate.stdout.splitlines()[0])
    assert guess["input_tokens"] == 6  # the message text, as the default count_request counts it
    assert guess["max_output_tokens"] == 7

    # A bare name finds the plugin by the prefix it declares; two of its models compare in one run.
    compared = llmctl([site], "complete", "--json", "-m", "foo-large", "-m", "foo:baz", "abc")
    assert compared.returncode == 0, compared.stderr
    rows = [json.loads(line) for line in compared.stdout.splitlines()]
    assert sorted((r["model"], r["text"]) for r in rows) == [("foo:baz", "cba"), ("foo:foo-large", "cba")]

    logged = llmctl([site], "usage", "--json", "--by", "model")
    assert logged.returncode == 0, logged.stderr
    by_model = {r["model"]: r for r in map(json.loads, logged.stdout.splitlines())}
    assert by_model["foo:bar"]["calls"] == 1 and by_model["foo:bar"]["cost"] == 15
    assert by_model["foo:baz"]["calls"] == 1 and by_model["foo:foo-large"]["calls"] == 1


def test_plugins_lists_built_in_and_installed_providers(tmp_path: Path) -> None:
    result = llmctl([foo_dist(tmp_path)], "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert {"openai", "mistral", "hf", "gguf", "foo"} <= set(rows)
    assert rows["foo"] == {"name": "foo", "module": "llmctl_foo:FooProvider", "distribution": "llmctl-foo",
                           "version": "1.2.0", "builtin": False, "local": False, "prefixes": ["foo:", "foo-"],
                           "models": ["foo:bar", "foo:baz"], "error": None}
    assert rows["openai"]["builtin"] is True and rows["openai"]["distribution"] == "llmctl"
    assert result.stderr == ""


@pytest.mark.heavy  # llmctl processes
def test_a_plugin_that_fails_to_load_is_one_warning_and_the_rest_work(tmp_path: Path) -> None:
    broken = make_dist(tmp_path / "broken", "llmctl-broken", "0.1", {"broken": "llmctl_broken:BrokenProvider"},
                       {"llmctl_broken": BROKEN})
    paths = [broken, foo_dist(tmp_path)]
    line = ("the provider plugin 'broken' (llmctl-broken 0.1: llmctl_broken:BrokenProvider) failed to load: "
            "ImportError: the backend library is missing")

    listed = llmctl(paths, "plugins")
    assert listed.returncode == 0
    assert listed.stderr == f"warning: {line}\n"
    assert "foo\tno\tno\tllmctl-foo\t1.2.0" in listed.stdout

    other = llmctl(paths, "complete", "-m", "foo-bar", "hi")  # a bare name looks through every plugin
    assert (other.returncode, other.stdout) == (0, "ih\n")
    assert "broken" not in other.stderr

    asked = llmctl(paths, "complete", "-m", "broken:x", "hi")
    assert asked.returncode == 2
    assert asked.stderr == f"llmctl: error: {line}\n"
    assert asked.stdout == ""


@pytest.mark.heavy  # an llmctl process
def test_two_plugins_claiming_one_name_is_exit_3_naming_both(tmp_path: Path) -> None:
    first = foo_dist(tmp_path)
    second = make_dist(tmp_path / "other", "llmctl-foo-fork", "0.2", {"foo": "foo_fork:FooProvider"},
                       {"foo_fork": FOO})
    for args in (["complete", "-m", "foo:bar", "hi"], ["plugins"]):
        result = llmctl([first, second], *args)
        assert result.returncode == 3, result.stderr
        first_line = result.stderr.splitlines()[0]
        assert first_line == ("llmctl: error: two provider plugins claim the name 'foo': "
                              "llmctl-foo (llmctl_foo:FooProvider) and llmctl-foo-fork (foo_fork:FooProvider) "
                              "(uninstall one of them)")
        assert result.stdout == ""


def test_a_plugin_may_not_take_a_built_in_name(tmp_path: Path) -> None:
    impostor = make_dist(tmp_path / "imp", "llmctl-openai-fork", "9.9", {"openai": "llmctl_foo:FooProvider"},
                         {"llmctl_foo": FOO})
    result = llmctl([impostor], "plugins")
    assert result.returncode == 3
    assert result.stderr.splitlines()[0] == (
        "llmctl: error: two provider plugins claim the name 'openai': llmctl (llmctl.providers.openai) and "
        "llmctl-openai-fork (llmctl_foo:FooProvider) (uninstall one of them)")
