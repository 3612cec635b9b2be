"""What models there are: configured ones, local aliases read from their files, GGUF files in the
Hugging Face cache, and what an OpenAI-compatible server serves (`llmctl models`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.core.config import Config
from llmctl.core.config_tables import ModelEntry
from llmctl.core.errors import LlmctlError, UsageError
from llmctl.core.pricing import PriceTable
from llmctl.providers.base import ModelRef
from llmctl.providers.registry import (
    backend_settings,
    get_provider,
    profile_kind,
    provider_class,
    resolve_model,
)


@dataclass
class ModelInfo:
    """One row of `llmctl models`."""

    model: str
    provider: str
    alias_of: str | None = None
    context_window: int | None = None
    capabilities: list[str] = field(default_factory=list)
    #: MIME types it reads besides text (-a)
    attachments: list[str] = field(default_factory=list)
    tokenizer: str | None = None
    input_per_1m: str | None = None
    output_per_1m: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def display_path(path: str | Path) -> str:
    """A path as a user would type it: under the home folder it starts with ~."""
    text = str(path)
    home = str(Path.home())
    return "~" + text[len(home):] if text == home or text.startswith(home + os.sep) else text


def configured_models(config: Config) -> list[ModelInfo]:
    """Every model of configs/models.toml with a context window (API models), priced."""
    prices = PriceTable(config)
    rows = []
    for provider in sorted(config.models):
        for name, entry in sorted(config.models[provider].items()):
            if not entry.listed:
                continue  # settings of a local alias, shown with the alias
            merged, target = entry, entry.points_to
            dated = config.model_entry(provider, target) if target is not None else None
            if dated is not None:
                merged = ModelEntry(name, {**dated.settings, **entry.settings})
            price = prices.lookup(provider, name)
            rows.append(ModelInfo(
                model=f"{provider}:{name}", provider=provider,
                alias_of=f"{provider}:{target}" if isinstance(target, str) else None,
                context_window=merged.context_window, capabilities=sorted(merged.capabilities),
                attachments=list(merged.attachments), tokenizer=merged.tokenizer,
                input_per_1m=str(price.input) if price and price.input is not None else None,
                output_per_1m=str(price.output) if price and price.output is not None else None))
    return rows


def of_provider(config: Config, rows: list[ModelInfo], provider: str) -> list[ModelInfo]:
    """The rows of one provider or profile (exit 2 for a name llmctl does not know)."""
    known = sorted(set(config.providers) | set(config.profiles))
    if provider not in known:
        raise UsageError(f"unknown provider {provider!r}; valid providers: {', '.join(known)}")
    return [row for row in rows if row.provider == provider]


def _local_info(name: str, ref: ModelRef, alias_of: str | None) -> ModelInfo:
    from llmctl.providers.defaults import model_defaults

    provider = get_provider(ref)
    defaults = model_defaults(ref, provider)
    return ModelInfo(model=name, provider=ref.provider, alias_of=alias_of,
                     context_window=provider.context_window(ref),
                     capabilities=sorted(provider.capabilities(ref)), tokenizer="own",
                     input_per_1m="0", output_per_1m="0", defaults=defaults)


def aliases(config: Config) -> list[ModelInfo]:
    """Every alias; a local one is read from its file: window, capabilities, sampling defaults."""
    rows = []
    for alias, target in sorted(config.aliases.items()):
        try:
            ref = resolve_model(alias, config)
        except LlmctlError:
            rows.append(ModelInfo(model=alias, provider=target.partition(":")[0], alias_of=target))
            continue
        if provider_class(ref.kind).model_is_path:
            shown = target if target in config.aliases else f"{ref.provider}:{display_path(ref.model)}"
            try:
                rows.append(_local_info(alias, ref, shown))
            except LlmctlError:
                rows.append(ModelInfo(model=alias, provider=ref.provider, alias_of=shown))
        else:
            rows.append(ModelInfo(model=alias, provider=ref.provider, alias_of=target,
                                  context_window=ref.context_window, capabilities=sorted(ref.capabilities)))
    return rows


def found_models() -> list[ModelInfo]:
    """The models built-in backends find on their own (GGUF files in the Hugging Face cache), each
    read from its file."""
    from llmctl.providers.plugins import builtin_names

    rows = []
    for kind in builtin_names():
        for name in provider_class(kind).listed_models():
            try:
                rows.append(_local_info(f"{kind}:{name}", resolve_model(f"{kind}:{name}"), None))
            except LlmctlError:
                rows.append(ModelInfo(model=f"{kind}:{name}", provider=kind))
    return rows


def served_models(config: Config, profile: str, options: dict[str, Any] | None = None) -> list[ModelInfo]:
    """What an OpenAI-compatible server (a profile, or `openai`) lists at GET /models."""
    from llmctl.core.http import client_options, make_client
    from llmctl.providers.api_errors import not_json_error
    from llmctl.providers.hosted import HostedProvider
    from llmctl.providers.options import build_options

    compatible = profile_kind(config)
    settings = backend_settings(config, profile)
    if settings is None or settings.kind != compatible:
        known = sorted(name for name in {**config.providers, **config.profiles}
                       if getattr(backend_settings(config, name), "kind", None) == compatible)
        raise UsageError(f"--from needs an OpenAI-compatible provider or profile, not {profile!r}; "
                         f"known: {', '.join(known)}")
    typed = build_options(compatible, settings.table, options or {}, label=f"{profile}:")
    provider = provider_class(compatible)(typed)
    assert isinstance(provider, HostedProvider)
    ref = ModelRef(profile, compatible, "", f"{profile}:", {}, settings)  # typed settings, as resolution makes
    credentials = provider.credentials()
    url = provider.base_url.rstrip("/") + "/models"
    # The same key guard as every call: the key goes only to the host it belongs to.
    import httpx2

    with make_client(**client_options(dict(provider.options)), key_header=provider.key_header(credentials),
                     secrets=provider.secrets()) as client:
        try:
            reply = client.get(url)
        except httpx2.HTTPError as exc:  # the transport's errors, after its retries (anything else is a bug)
            raise provider.transport_error(ref, exc) from None
        try:
            body = reply.json()
        except ValueError:
            raise not_json_error(ref, reply.status_code, reply.text, reply.headers.get("content-type")) from None
        if reply.status_code >= 400:
            raise provider.status_error(ref, reply.status_code, body, 1)
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise not_json_error(ref, reply.status_code, reply.text, reply.headers.get("content-type"))
    rows = []
    for item in data:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            rows.append(ModelInfo(model=f"{profile}:{item['id']}", provider=profile,
                                  context_window=_int_or_none(item.get("context_length") or item.get("max_model_len"))))
    return sorted(rows, key=lambda row: row.model)


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
