"""Where a quantizer or converter writes its output before it is renamed into place.

Each job gets a private hidden folder beside the target (`.NAME.XXXX.partial/`), so the output
is on the same filesystem (the final rename is atomic) and an interrupted run leaves nothing a
user could mistake for a model. The tool creates the file in that folder itself: handing it an
existing empty file (as `mkstemp` makes) means the file is truncated and rewritten, which ext4
treats as a replace-by-truncate and flushes to disk when it is closed (its `auto_da_alloc`
guard). Measured on SmolLM2's f16 -> q4_k_m, 20 interleaved rounds: 2.4% slower, all of it inside
llama.cpp's call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from llmctl.core.errors import UsageError


class Staging:
    """A private folder beside `target` holding the output being written and the tool's log."""

    def __init__(self, target: Path) -> None:
        self.target = target
        try:
            self.folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
        except OSError as exc:
            raise UsageError(f"{target.parent}: cannot write the output there ({exc.strerror})") from None
        #: where the tool writes (not created here: the tool creates it)
        self.file = self.folder / target.name
        self.log = self.folder / "log.txt"

    def commit(self) -> None:
        """Move the finished output over the target, then remove the folder and the log."""
        os.replace(self.file, self.target)
        self.discard()

    def discard(self) -> None:
        """Remove the folder and whatever is in it (a half-written output, the log)."""
        shutil.rmtree(self.folder, ignore_errors=True)
