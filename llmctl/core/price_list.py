"""Fetched price lists: LiteLLM's model_prices_and_context_window.json, read into llmctl's price entries.

`update(source)` fetches the list (a URL or a file), checks every entry llmctl would use, and only
then replaces the stored list in the user data folder, with where it came from and when. Anything
wrong (offline, not JSON, an entry without its rates) leaves the stored prices as they were.
`update_from_package(wheel)` takes the copy a `litellm` release carries, from a wheel or from the
installed package, dated as that release shows it (the newest date in its model names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmctl.core.errors import ConfigError, InputError, LlmctlError, NetworkError, ProviderError

DEFAULT_URL = "https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json"
#: Where a litellm release (wheel or installed package) keeps its own copy of the list.
PACKAGE_MEMBER = "litellm/model_prices_and_context_window_backup.json"
#: A date in a model name (`gpt-5.5-2026-04-23`): the list carries no date of its own.
_NAME_DATE = re.compile(r"(?<!\d)(20\d\d)-(\d\d)-(\d\d)(?!\d)")
#: Modes billed per token that llmctl calls; images, audio and realtime are priced otherwise.
PRICED_MODES = frozenset({"chat", "completion", "embedding", "responses"})
#: LiteLLM field -> llmctl rate, all per token there and per 1M tokens here.
RATES = {"input_cost_per_token": "input", "cache_read_input_token_cost": "cached_input",
         "output_cost_per_token": "output", "input_cost_per_token_batches": "batch_input",
         "output_cost_per_token_batches": "batch_output"}
_LONG = re.compile(r"^(input_cost_per_token|output_cost_per_token|cache_read_input_token_cost)_above_(\d+)k_tokens$")
_LONG_RATES = {"input_cost_per_token": "input_long", "output_cost_per_token": "output_long",
               "cache_read_input_token_cost": "cached_input_long"}
RATE_NAMES = ("input", "cached_input", "output", "batch_input", "batch_output", "input_long",
              "cached_input_long", "output_long", "long_context_above")


def fetched_path() -> Path:
    from llmctl.core.config import user_data_dir

    return user_data_dir() / "prices.json"


@dataclass
class PriceList:
    """A fetched list as stored: entries[provider][model] in the shape of configs/prices.toml."""

    source: str
    fetched_at: str
    sha256: str
    entries: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "fetched_at": self.fetched_at, "sha256": self.sha256,
                "entries": self.entries}


@dataclass(frozen=True)
class Change:
    model: str  # provider:model
    kind: str  # added, changed, removed
    fields: dict[str, tuple[str | None, str | None]]
    user_kept: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "change": self.kind,
                "fields": {k: {"old": a, "new": b} for k, (a, b) in self.fields.items()},
                "user_entry_kept": self.user_kept}


def per_million(value: Any, where: str, name: str, bad: type[LlmctlError]) -> str:
    """A LiteLLM per-token number as llmctl's per-1M decimal string."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value != value:
        raise bad(f"price list entry {where!r}: {name} must be a non-negative number, not {value!r}; "
                  "the old prices are kept")
    amount = (Decimal(repr(float(value))) * 1_000_000).normalize()
    return format(amount, "f")


def price_sources() -> dict[str, tuple[str, str]]:
    """LiteLLM's provider names for the APIs llmctl prices -> (llmctl's price table, the prefix LiteLLM's
    keys carry there), as each built-in provider declares them (`Provider.price_sources`)."""
    from llmctl.providers.plugins import builtin_names
    from llmctl.providers.registry import provider_class

    found: dict[str, tuple[str, str]] = {}
    for kind in builtin_names():
        for source, prefix in provider_class(kind).price_sources().items():
            found[source] = (kind, prefix)
    return found


def parse(text: str, source: str, today: dt.date, bad: type[LlmctlError]) -> PriceList:
    """Every entry of the sources the providers declare (`price_sources`) billed per token, checked; the first
    bad one is named."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad(f"price list {source} is not JSON ({exc}); the old prices are kept") from None
    if not isinstance(data, dict):
        raise bad(f"price list {source} is not a JSON object of models; the old prices are kept")
    entries: dict[str, dict[str, dict[str, Any]]] = {}
    sources = price_sources()
    for key, raw in data.items():
        if key == "sample_spec":
            continue
        if not isinstance(raw, dict):
            raise bad(f"price list entry {key!r} is not an object; the old prices are kept")
        found = sources.get(str(raw.get("litellm_provider")))
        if found is None or raw.get("mode") not in PRICED_MODES:
            continue
        provider, prefix = found
        if prefix and not key.startswith(prefix) and prefix + key in data:
            continue  # a second copy under the bare name (gemini-exp-1206): the prefixed entry is the API's
        if "/" in key.removeprefix(prefix):
            continue  # a sized or routed variant (`low/1024-x-1024/...`), not a model name
        entry = _entry(key, raw, bad)
        entry["as_of"] = today.isoformat()
        entry["source"] = source
        entries.setdefault(provider, {})[key.removeprefix(prefix)] = entry
    if not entries:
        raise bad(f"price list {source} has no prices of the providers llmctl knows; the old prices are kept")
    digest = hashlib.sha256(text.encode()).hexdigest()
    return PriceList(source, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), digest, entries)


def _entry(key: str, raw: dict[str, Any], bad: type[LlmctlError]) -> dict[str, Any]:
    if "input_cost_per_token" not in raw:
        raise bad(f"price list entry {key!r} has no input_cost_per_token; the old prices are kept")
    if raw.get("mode") != "embedding" and "output_cost_per_token" not in raw:
        raise bad(f"price list entry {key!r} has no output_cost_per_token; the old prices are kept")
    entry: dict[str, Any] = {}
    for theirs, ours in RATES.items():
        if theirs in raw:
            entry[ours] = per_million(raw[theirs], key, theirs, bad)
    thresholds = set()
    for name, value in raw.items():
        match = _LONG.match(name)
        if match:
            entry[_LONG_RATES[match.group(1)]] = per_million(value, key, name, bad)
            thresholds.add(int(match.group(2)) * 1000)
    if len(thresholds) > 1:
        raise bad(f"price list entry {key!r} has more than one long-context threshold; the old prices are kept")
    if thresholds:
        entry["long_context_above"] = thresholds.pop()
    return entry


def load_fetched(path: Path | None = None) -> PriceList | None:
    """The stored list, or None when `prices update` never ran."""
    path = path or fetched_path()
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PriceList(str(data["source"]), str(data["fetched_at"]), str(data["sha256"]),
                         {p: dict(t) for p, t in data["entries"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: the stored price list is damaged ({type(exc).__name__}); "
                          "run `llmctl prices update` again or delete the file") from None


def fetch(source: str, timeout: float = 30.0) -> tuple[str, type[LlmctlError]]:
    """The list's text, and the error class for its faults (a file is the user's input, exit 2)."""
    if not re.match(r"^https?://", source):
        path = Path(source).expanduser()
        try:
            return path.read_text(encoding="utf-8"), InputError
        except FileNotFoundError:
            raise InputError(f"{source}: no such file; the prices are unchanged") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: cannot read the price list ({exc}); the prices are unchanged") from None
    import httpx2

    try:
        response = httpx2.get(source, timeout=httpx2.Timeout(timeout, connect=5.0), follow_redirects=True)
    except httpx2.HTTPError as exc:
        raise NetworkError(f"cannot fetch {source} ({type(exc).__name__}); the prices are unchanged",
                           hint="check the network, or pass --from FILE") from None
    if response.status_code != 200:
        raise NetworkError(f"cannot fetch {source} (HTTP {response.status_code}); the prices are unchanged",
                           status=response.status_code)
    return response.text, ProviderError


def changes(old: dict[str, dict[str, dict[str, Any]]], new: dict[str, dict[str, dict[str, Any]]],
            user: dict[str, Any]) -> list[Change]:
    """What moved between two sets of entries, rate by rate."""
    found: list[Change] = []
    for provider in sorted(set(old) | set(new)):
        before, after = old.get(provider, {}), new.get(provider, {})
        mine = user.get(provider, {}) if isinstance(user.get(provider), dict) else {}
        for model in sorted(set(before) | set(after)):
            a, b = before.get(model), after.get(model)
            fields = {name: (_text(a, name), _text(b, name)) for name in RATE_NAMES
                      if _text(a, name) != _text(b, name)}
            if not fields:
                continue
            kind = "added" if a is None else "removed" if b is None else "changed"
            found.append(Change(f"{provider}:{model}", kind, fields, user_kept=model in mine))
    return found


def _text(entry: dict[str, Any] | None, name: str) -> str | None:
    if entry is None or entry.get(name) is None:
        return None
    value = entry[name]
    return format(Decimal(value).normalize(), "f") if isinstance(value, str) else str(value)


def shipped_prices() -> dict[str, Any]:
    """configs/prices.toml as shipped, before any user entry."""
    import tomllib

    from llmctl.core.config import shipped_config_dir

    with (shipped_config_dir() / "prices.toml").open("rb") as fh:
        prices = tomllib.load(fh).get("prices", {})
    return prices if isinstance(prices, dict) else {}


def newest_name_date(names: Iterable[str]) -> dt.date | None:
    """The newest real date in model names: as near as the list comes to saying when it was made.

    Only names count: other fields carry dates to come (`deprecation_date`).
    """
    found = None
    for match in (m for name in names for m in _NAME_DATE.finditer(name)):
        try:
            day = dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            continue
        found = day if found is None or day > found else found
    return found


def read_package(wheel: str | None) -> tuple[str, str]:
    """The list a litellm release carries, and its provenance: from a wheel file, else the installed package."""
    import zipfile

    name = PACKAGE_MEMBER.rsplit("/", 1)[1]
    if wheel is None:
        import importlib.metadata

        try:
            dist = importlib.metadata.distribution("litellm")
        except importlib.metadata.PackageNotFoundError as exc:
            raise InputError("--from-package: no litellm package is installed; give the path of a litellm "
                             "wheel (pip download litellm --no-deps); the prices are unchanged") from exc
        member = Path(str(dist.locate_file(PACKAGE_MEMBER)))
        try:
            return member.read_text(encoding="utf-8"), f"litellm {dist.version} ({name})"
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--from-package: the installed litellm {dist.version} has no readable {PACKAGE_MEMBER} "
                             f"({type(exc).__name__}); the prices are unchanged") from exc
    try:
        with zipfile.ZipFile(Path(wheel).expanduser()) as archive:
            text = archive.read(PACKAGE_MEMBER).decode("utf-8")
            meta = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
            version = _metadata_version(archive.read(meta).decode("utf-8", "replace")) if meta else None
    except FileNotFoundError as exc:
        raise InputError(f"{wheel}: no such file; the prices are unchanged") from exc
    except KeyError as exc:
        raise InputError(f"{wheel}: the wheel has no {PACKAGE_MEMBER}; the prices are unchanged") from exc
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise InputError(f"{wheel}: not a readable wheel ({type(exc).__name__}); the prices are unchanged") from exc
    if version is None:
        raise InputError(f"{wheel}: the wheel names no version in its METADATA; the prices are unchanged")
    return text, f"litellm {version} ({name})"


def _metadata_version(metadata: str) -> str | None:
    """`Version:` of a wheel's METADATA (email headers, as importlib.metadata reads them)."""
    import email.parser

    version = email.parser.HeaderParser().parsestr(metadata).get("Version")
    return str(version).strip() or None if version else None


def update(source: str, user: dict[str, Any], *, shipped: dict[str, Any] | None = None,
           today: dt.date | None = None, path: Path | None = None) -> tuple[PriceList, list[Change]]:
    """Fetch, check and store a list; the changes are those of the prices in effect, before and after.

    A fetched entry stands over the shipped one of the same name; what the list does not name keeps
    its shipped price, so only the entries the list brings (or stops bringing) can change.
    """
    text, bad = fetch(source)
    return _store(parse(text, source, today or dt.date.today(), bad), user, shipped, path)


def update_from_package(wheel: str | None, user: dict[str, Any], *, shipped: dict[str, Any] | None = None,
                        path: Path | None = None) -> tuple[PriceList, list[Change]]:
    """As `update`, with the list a litellm release carries; its entries are dated as the release is."""
    text, source = read_package(wheel)
    try:
        names = json.loads(text)
    except ValueError:
        names = {}  # parse() names the fault
    as_of = newest_name_date(names if isinstance(names, dict) else {}) or dt.date.today()
    return _store(parse(text, source, as_of, InputError), user, shipped, path)


def _store(fresh: PriceList, user: dict[str, Any], shipped: dict[str, Any] | None,
           path: Path | None) -> tuple[PriceList, list[Change]]:
    path = path or fetched_path()
    previous = load_fetched(path)
    shipped = shipped_prices() if shipped is None else shipped

    def in_effect(fetched: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
        merged = {p: {m: e for m, e in t.items() if isinstance(e, dict)} for p, t in shipped.items()}
        for provider, table in fetched.items():
            merged.setdefault(provider, {}).update(table)
        return merged

    baseline = in_effect(previous.entries if previous is not None else {})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(fresh.to_json(), indent=1, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)
    return fresh, changes(baseline, in_effect(fresh.entries), user)
