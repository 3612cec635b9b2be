"""`llmctl run-local`: chat with, serve or benchmark a local model (being built)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmctl.cli.common import guarded
from llmctl.core.errors import UsageError


@guarded
def run_local_command(model: Annotated[str, typer.Argument(help="A GGUF file or alias.")]) -> None:
    """Chat with, serve or benchmark a local model."""
    raise UsageError("run-local is not available in this build")
