"""`llmctl prices update --from-package`: the list a litellm release carries, from a wheel or the installed package."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support.api_wire import FIXTURES
from typer.testing import CliRunner

from llmctl.cli.app import app
from llmctl.core.config import get_config
from llmctl.core.price_list import fetched_path
from llmctl.core.pricing import PriceTable

MEMBER = "litellm/model_prices_and_context_window_backup.json"
SOURCE = "litellm 9.9.9 (model_prices_and_context_window_backup.json)"


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _list(**edits: Any) -> bytes:
    """The recorded LiteLLM list, plus a model of another provider dated later than any of ours, and a
    deprecation date later still (a date to come, not the list's)."""
    data = json.loads((FIXTURES / "litellm_prices.json").read_text())
    data["azure/gpt-9-sol-2026-11-02"] = {"litellm_provider": "azure", "mode": "chat",
                                          "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
    data["gpt-5-2025-08-07"]["deprecation_date"] = "2027-05-01"
    for key, fields in edits.items():
        data[key].update(fields)
    return json.dumps(data).encode()


def _wheel(folder: Path, content: bytes, *, version: str = "9.9.9", member: str = MEMBER) -> Path:
    """A wheel as pip downloads it: the package's files and its dist-info, zipped."""
    path = folder / f"litellm-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("litellm/__init__.py", "")
        archive.writestr(member, content)
        archive.writestr(f"litellm-{version}.dist-info/METADATA",
                         f"Metadata-Version: 2.4\nName: litellm\nVersion: {version}\n\nA description.\n")
    return path


def test_from_a_wheel_stores_the_list_dated_as_the_release(tmp_path: Path) -> None:
    content = _list()
    result = _cli("prices", "update", "--from-package", str(_wheel(tmp_path, content)))
    assert result.exit_code == 0, result.stderr
    stored = json.loads(fetched_path().read_text())
    assert stored["source"] == SOURCE
    assert stored["sha256"] == hashlib.sha256(content).hexdigest()
    entries = [e for table in stored["entries"].values() for e in table.values()]
    assert len(entries) == 9
    # The newest date among the model names; not the deprecation date, not today.
    assert {(e["as_of"], e["source"]) for e in entries} == {("2026-11-02", SOURCE)}
    assert stored["entries"]["openai"]["gpt-5-2025-08-07"]["input"] == "1.25"
    changed = len(result.stdout.splitlines())
    assert result.stderr.endswith(f"9 prices from {SOURCE} ({changed} changed) saved to {fetched_path()}\n")
    get_config.cache_clear()
    price = PriceTable(get_config()).lookup("openai", "gpt-5")
    assert price is not None and (price.as_of, price.source) == ("2026-11-02", SOURCE)


def test_from_a_wheel_reports_what_changed(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert _cli("prices", "update", "--from-package", str(_wheel(first, _list()))).exit_code == 0
    newer = _list(**{"gpt-5-2025-08-07": {"input_cost_per_token": 1.1e-06}})
    result = _cli("prices", "update", "--from-package", str(_wheel(second, newer, version="9.9.10")))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "openai:gpt-5-2025-08-07\tchanged\tinput 1.25 -> 1.1\n"
    again = _cli("prices", "update", "--from-package", str(_wheel(second, newer, version="9.9.10")), "--json")
    assert again.exit_code == 0 and again.stdout == ""


def test_from_the_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    with zipfile.ZipFile(_wheel(tmp_path, _list())) as archive:
        archive.extractall(site)  # what pip install puts in site-packages
    monkeypatch.syspath_prepend(str(site))
    result = _cli("prices", "update", "--from-package", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(fetched_path().read_text())["source"] == SOURCE
    records = {r["model"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert records["openai:gpt-5-pro"]["change"] == "added"


def test_no_installed_package_and_no_wheel_is_exit_2() -> None:
    import importlib.util

    if importlib.util.find_spec("litellm") is not None:
        pytest.skip("litellm is installed here")
    result = _cli("prices", "update", "--from-package")
    assert result.exit_code == 2
    assert result.stderr == ("llmctl: error: --from-package: no litellm package is installed; give the path of a "
                             "litellm wheel (pip download litellm --no-deps); the prices are unchanged\n")
    assert not fetched_path().exists()


def test_bad_wheels_are_exit_2_and_change_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.whl"
    result = _cli("prices", "update", "--from-package", str(missing))
    assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {missing}: no such file; the prices are "
                                                    "unchanged\n")
    other = _wheel(tmp_path, b"{}", member="litellm/other.json")
    result = _cli("prices", "update", "--from-package", str(other))
    assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {other}: the wheel has no {MEMBER}; the "
                                                    "prices are unchanged\n")
    text = tmp_path / "list.json"
    text.write_bytes(_list())
    result = _cli("prices", "update", "--from-package", str(text))
    assert (result.exit_code, result.stderr) == (2, f"llmctl: error: {text}: not a readable wheel (BadZipFile); "
                                                    "the prices are unchanged\n")
    (tmp_path / "broken").mkdir()
    broken = _wheel(tmp_path / "broken", b"{not json")
    result = _cli("prices", "update", "--from-package", str(broken))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"llmctl: error: price list {SOURCE} is not JSON (")
    both = _cli("prices", "update", "--from", str(text), "--from-package", str(other))
    assert (both.exit_code, both.stderr) == (2, "llmctl: error: --from and --from-package both name a list; "
                                                "give one\n")
    assert not fetched_path().exists()
