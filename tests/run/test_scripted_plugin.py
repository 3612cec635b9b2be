"""The scripted provider reaches these tests as an installed plugin would, through its entry point."""

from __future__ import annotations

from support.scripted_run import ScriptedProvider

from llmctl.providers import plugins, registry
from llmctl.providers.options import HostedOptions


def test_the_scripted_provider_is_found_through_its_entry_point() -> None:
    assert "scripted" not in registry.PROVIDER_KINDS  # no registry is patched
    entry = plugins.registration("scripted")
    assert entry is not None
    assert (entry.distribution, entry.version, entry.target, entry.builtin) == (
        "llmctl-scripted", "0.1", "support.scripted_run:ScriptedProvider", False)
    assert registry.provider_class("scripted") is ScriptedProvider
    options = registry.provider_options(registry.resolve_model("scripted:chat"))
    assert isinstance(options, HostedOptions) and options.concurrency == 4  # its options model
