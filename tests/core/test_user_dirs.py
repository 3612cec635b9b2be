"""The user's folders: platformdirs' answer (the XDG Base Directory rules on Linux), read from the environment on
each call, so the tests' and the benchmarks' XDG_* and LLMCTL_CONFIG overrides keep working."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmctl.core import config

DIRS = {"XDG_CONFIG_HOME": config.user_config_dir, "XDG_DATA_HOME": config.user_data_dir,
        "XDG_CACHE_HOME": config.user_cache_dir, "XDG_STATE_HOME": config.user_state_dir}
#: the XDG Base Directory specification's defaults, under $HOME
SPEC_DEFAULTS = {"XDG_CONFIG_HOME": ".config", "XDG_DATA_HOME": ".local/share", "XDG_CACHE_HOME": ".cache",
                 "XDG_STATE_HOME": ".local/state"}

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG rules are Linux's")


@pytest.mark.parametrize("var", list(DIRS))
def test_each_folder_follows_its_xdg_variable(var: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(var, str(tmp_path / "somewhere"))
    assert DIRS[var]() == tmp_path / "somewhere" / "llmctl"


@pytest.mark.parametrize("var", list(DIRS))
def test_unset_or_empty_falls_back_to_the_specs_default(var: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv(var, raising=False)
    assert DIRS[var]() == tmp_path / SPEC_DEFAULTS[var] / "llmctl"
    monkeypatch.setenv(var, "")
    assert DIRS[var]() == tmp_path / SPEC_DEFAULTS[var] / "llmctl"


def test_the_config_file_is_llmctl_config_else_under_the_config_folder(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert config.user_config_path() == tmp_path / "cfg" / "llmctl" / "config.toml"
    monkeypatch.setenv("LLMCTL_CONFIG", str(tmp_path / "mine.toml"))
    assert config.user_config_path() == tmp_path / "mine.toml"
    assert config.user_config_dir() == tmp_path / "cfg" / "llmctl"  # templates stay in the folder


def test_what_llmctl_stores_lives_in_the_one_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmctl.chat.lines import history_path
    from llmctl.core.price_list import fetched_path
    from llmctl.run.batch_api import batches_dir
    from llmctl.run.cache import cache_db_path
    from llmctl.run.store import usage_db_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    data = tmp_path / "data" / "llmctl"
    assert [usage_db_path(), cache_db_path(), batches_dir(), fetched_path()] == [
        data / "usage.db", data / "cache.db", data / "batches", data / "prices.json"]
    assert history_path() == tmp_path / "state" / "llmctl" / "chat_history"
