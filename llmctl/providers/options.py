"""Typed options: what each backend and each completion takes, with types, ranges and defaults in one place.

Every backend declares one pydantic model (`extra="forbid"`): the command line, `[providers.*]`
and `[profiles.*]` settings all go through it, so an option a backend does not take is an error,
never silence. Adding an option is one field here; its flag is the field name with dashes
(`n_ctx` -> `--n-ctx`), and `--help` shows its default from the field. pydantic is imported only
when a model is opened (not for `--help` or an API model's `tokenize`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmctl.core.errors import ConfigError, UsageError

#: Keys of a `[providers.*]`/`[profiles.*]` table that pick the backend rather than configure it.
RESOLUTION_KEYS = frozenset({"kind", "prefixes", "serves_profiles"})


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


class BackendOptions(BaseModel):
    """What every backend takes; each backend's model adds its own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    #: fields set by llmctl itself or by the config, never flags of their own
    internal: ClassVar[frozenset[str]] = frozenset({"verbose"})
    #: internal fields a [providers.*]/[profiles.*] table may still set
    config_only: ClassVar[frozenset[str]] = frozenset()

    verbose: bool = Field(False, description="Trace what the backend does on stderr (the global --verbose).")

    @classmethod
    def flags(cls) -> list[str]:
        """The command-line flags this backend takes, in declaration order."""
        return [flag_of(name) for name in cls.model_fields if name not in cls.internal]

    @classmethod
    def describe(cls, name: str) -> tuple[str, Any]:
        """(help text, default) of one field, for `--help`."""
        info = cls.model_fields[name]
        return info.description or "", info.default


class GGUFOptions(BackendOptions):
    n_ctx: int | None = Field(None, ge=1, description="Context window in tokens (default: the model's training "
                                                      "window, at most 4096).")
    threads: int | None = Field(None, ge=1, description="CPU threads (default: the CPUs this process may use, "
                                                        "less those busy with other work).")
    n_gpu_layers: int = Field(0, ge=-1, description="Layers to put on the GPU (-1: all).")


class HFOptions(BackendOptions):
    internal: ClassVar[frozenset[str]] = frozenset({"verbose", "key_env"})
    config_only: ClassVar[frozenset[str]] = frozenset({"key_env"})

    device: str = Field("cpu", pattern=r"^(cpu|auto|mps|cuda(:\d+)?)$",
                        description="Device: cpu, cuda, cuda:N, mps or auto.")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch (default: torch's own choice).")
    allow_pickle: bool = Field(False, description="Allow pickle (.bin) weights; they can run code.")
    trust_remote_code: bool = Field(False, description="Allow the model's own Python code to run.")
    key_env: str | None = None


class HostedOptions(BackendOptions):
    internal: ClassVar[frozenset[str]] = frozenset(
        {"verbose", "key_env", "profile", "profile_base_url", "tokenizer", "prices", "custom_endpoint", "transport",
         "backoff_base", "trace"})
    config_only: ClassVar[frozenset[str]] = frozenset({"key_env", "tokenizer", "prices"})

    base_url: str | None = Field(None, min_length=1, description="Send requests to this endpoint (a server that "
                                                                 "speaks the provider's API).")
    timeout: float = Field(600.0, gt=0, description="Seconds to wait for a response (connecting: 5 s).")
    max_retries: int = Field(3, ge=0, description="Retries on 429, 5xx and connection errors.")
    max_wait: float = Field(60.0, ge=0, description="Longest Retry-After to wait, in seconds; a longer one ends "
                                                     "with exit 4 and the time to come back.")
    retry_timeouts: bool = Field(False, description="Send a request the server accepted again after it "
                                                    "timed out or was dropped (it may be billed twice).")
    concurrency: int = Field(4, ge=1, description="Requests in flight at once for batches.")
    key_env: str | None = Field(None, min_length=1)
    profile: str | None = None
    #: a profile's own base_url, kept when --base-url points elsewhere (its key stays with it)
    profile_base_url: str | None = None
    #: a profile's tokenizer for usage a server does not report ("hf:PATH", "gguf:PATH")
    tokenizer: str | None = None
    #: a profile's price table (the provider's own name for a proxy of that provider)
    prices: str | None = None
    custom_endpoint: bool = False
    # test and library seams: an httpx transport, the backoff base in seconds, a trace sink
    transport: Any = None
    backoff_base: float | None = Field(None, ge=0)
    trace: Any = None


class SamplingOptions(BaseModel):
    """The sampling settings of a completion; None means the model's own default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int | None = Field(None, ge=1, description="Most tokens to generate (a local GGUF model stops at "
                                                          "512 unless its alias says otherwise).")
    temperature: float | None = Field(None, ge=0, description="Sampling temperature (0: the likeliest token).")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass, in (0, 1].")
    top_k: int | None = Field(None, ge=1, description="Sample from the k likeliest tokens.")
    repeat_penalty: float | None = Field(None, gt=0, description="Penalty for repeated tokens.")
    seed: int | None = Field(None, description="Sampling seed.")
    stop: list[str] = Field(default_factory=list, description="Stop at this text (repeatable).")

    @field_validator("stop")
    @classmethod
    def _stops_not_empty(cls, value: list[str]) -> list[str]:
        if any(s == "" for s in value):
            raise ValueError("needs a non-empty text")
        return value


class ModelSettings(SamplingOptions):
    """What a `[models.PROVIDER."NAME"]` table may say of a model: its facts and default sampling."""

    context_window: int | None = Field(None, ge=1)
    max_output: int | None = Field(None, ge=1)
    capabilities: list[str] = Field(default_factory=list)
    dimensions: int | None = Field(None, ge=1)
    variable_dimensions: bool = False
    encoding: str | None = None
    tokenizer: str | None = None
    endpoint: str | None = None
    reasoning: bool = False
    system: str | None = None
    #: MIME types the model reads besides text, and its provider's rule for an image's tokens
    attachments: list[str] = Field(default_factory=list)
    image_tokens: dict[str, Any] | None = None
    points_to: str | None = None
    # set by name resolution: the dated model an alias points to, the family of an unlisted model
    dated: str | None = None
    family: str | None = None


def options_class(kind: str) -> type[BackendOptions]:
    """The options model the backend `kind` declares (`Provider.option_model`); the common fields for
    a kind no provider registers."""
    from llmctl.providers.registry import find_provider_class

    cls = find_provider_class(kind)
    return cls.option_model() if cls is not None else BackendOptions


def _expected(error: Mapping[str, Any]) -> str:
    """One pydantic error as the words a user reads: 'must be at least 1'."""
    ctx = error.get("ctx") or {}
    kind = error.get("type", "")
    words = {
        "greater_than": "must be more than {gt}",
        "greater_than_equal": "must be at least {ge}",
        "less_than": "must be less than {lt}",
        "less_than_equal": "must be at most {le}",
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be a string",
        "string_too_short": "must not be empty",
        "list_type": "must be a list",
        "string_pattern_mismatch": "must match {pattern}",
    }
    template = words.get(kind)
    if template is None:
        return str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    shown = {k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items()}
    try:
        return template.format(**shown)
    except (KeyError, IndexError):
        return template


def _first_error(exc: ValidationError) -> tuple[str, Any, str]:
    error = exc.errors()[0]
    loc = error.get("loc") or ("?",)
    return str(loc[0]), error.get("input"), _expected(error)


def _range_message(cls: type[BaseModel], name: str, value: Any, expected: str) -> str:
    if cls is SamplingOptions and name == "top_p" and expected.startswith(("must be more", "must be at most")):
        expected = "must be in (0, 1]"
    if name == "device" and expected.startswith("must match"):
        expected = "must be cpu, cuda, cuda:N, mps or auto"
    shown = f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else value
    return f"{flag_of(name)} {expected}, not {shown}"


def unknown_option_error(kind: str, unknown: list[str], label: str | None = None) -> UsageError:
    names = ", ".join(flag_of(n) for n in unknown)
    whose = f"{label} (the {kind} backend)" if label else f"the {kind} backend"
    takes = options_class(kind).flags()
    offer = f"it takes {', '.join(takes)}" if takes else "it takes no backend options"
    return UsageError(f"{names} {'does' if len(unknown) == 1 else 'do'} not apply to {whose}; {offer}")


def check_given(kind: str, given: Mapping[str, Any], label: str | None = None) -> dict[str, Any]:
    """The options a user set on the command line, checked against one backend (exit 2 if foreign)."""
    cls = options_class(kind)
    chosen = {k: v for k, v in given.items() if v is not None and v is not False}
    unknown = [k for k in chosen if k not in cls.model_fields]
    if unknown:
        raise unknown_option_error(kind, unknown, label)
    return chosen


def build_options(kind: str, settings: Mapping[str, Any] | None = None, given: Mapping[str, Any] | None = None,
                  *, label: str | None = None, source: Path | str | None = None,
                  table: str | None = None) -> BackendOptions:
    """A backend's options: the config `settings` (errors exit 3), then what the user `given` (exit 2)."""
    cls = options_class(kind)
    from_config = {k: v for k, v in (settings or {}).items() if k not in RESOLUTION_KEYS}
    where = f"{source or 'the config'}: [{table}]" if table else f"{source or 'the config'}:"
    try:
        cls.model_validate(from_config)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str((error.get("loc") or ("?",))[0])
        if error.get("type") == "extra_forbidden":
            keys = ["kind", *(k for k in cls.model_fields if k not in cls.internal or k in cls.config_only)]
            raise ConfigError(f"{where} unknown key {name!r}; the {kind} backend takes: {', '.join(keys)}") from None
        raise ConfigError(f"{where} {name} {_expected(error)}, not {error.get('input')!r}") from None
    chosen = check_given(kind, given or {}, label)
    try:
        return cls.model_validate({**from_config, **chosen})
    except ValidationError as exc:
        name, value, expected = _first_error(exc)
        raise UsageError(_range_message(cls, name, value, expected)) from None


def check_model_settings(spec: Mapping[str, Any], *, source: Path | str | None, table: str) -> ModelSettings:
    """A model's settings from the config (exit 3 naming the file, the table and the key)."""
    try:
        return ModelSettings.model_validate(dict(spec))
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ".".join(str(part) for part in error.get("loc") or ("?",))
        where = f"{source or 'the config'}: [{table}]"
        if error.get("type") == "extra_forbidden":
            raise ConfigError(f"{where} unknown key {name!r}; expected one of: "
                              f"{', '.join(ModelSettings.model_fields)}") from None
        raise ConfigError(f"{where} {name} {_expected(error)}, not {error.get('input')!r}") from None


def check_sampling(values: Mapping[str, Any]) -> SamplingOptions:
    """Validate a completion's sampling settings once, for every backend (exit 2)."""
    try:
        return SamplingOptions.model_validate(values)
    except ValidationError as exc:
        name, value, expected = _first_error(exc)
        if name == "stop":
            raise UsageError("--stop needs a non-empty text") from None
        raise UsageError(_range_message(SamplingOptions, name, value, expected)) from None
