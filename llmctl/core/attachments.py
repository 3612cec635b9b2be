"""Files and URLs sent with a prompt: their type checked against their bytes, their hash and pixel size."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmctl.core.errors import InputError

#: the types llmctl recognises by their first bytes
KNOWN_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
               "audio/wav", "audio/mpeg", "audio/flac", "audio/ogg")


@dataclass(frozen=True)
class Attachment:
    """One attachment: a local file (bytes read, type checked) or a URL the provider fetches itself."""

    source: str
    mime: str
    data: bytes | None = field(default=None, repr=False, compare=False)
    sha256: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def is_url(self) -> bool:
        return self.data is None

    @property
    def kind(self) -> str:
        """image, audio or document: what decides the message part a provider uses."""
        major = self.mime.split("/", 1)[0]
        return major if major in ("image", "audio") else "document"

    def data_url(self) -> str:
        """The file as a data: URL, or the URL itself."""
        if self.data is None:
            return self.source
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def base64(self) -> str:
        return base64.b64encode(self.data or b"").decode("ascii")

    def to_json(self) -> dict[str, Any]:
        """What a record or a stored exchange keeps: where it came from, its type and hash, never the bytes."""
        where = "url" if self.is_url else "path"
        out: dict[str, Any] = {where: self.source, "type": self.mime}
        if self.sha256:
            out["sha256"] = self.sha256
        return out


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def sniff(data: bytes) -> str | None:
    """The type a file's first bytes say it is, or None for none llmctl knows."""
    head = data[:16]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    return None


def _normal(mime: str) -> str:
    mime = mime.strip().lower()
    return {"image/jpg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav",
            "audio/wave": "audio/wav"}.get(mime, mime)


def load_attachment(source: str, claimed: str | None = None) -> Attachment:
    """Read and check one `-a PATH|URL` (or `--at PATH TYPE`); InputError (exit 2) naming it otherwise."""
    claimed = _normal(claimed) if claimed else None
    if is_url(source):
        mime = claimed or _normal(mimetypes.guess_type(source.split("?", 1)[0])[0] or "")
        if not mime:
            raise InputError(f"attachment {source}: its type cannot be told from the URL; "
                             "give it with --at URL TYPE (e.g. image/png)")
        return Attachment(source, mime)
    path = Path(source)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"attachment {source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"attachment {source}: is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"attachment {source}: cannot be read ({exc.strerror})") from None
    found = sniff(data)
    if claimed is not None and found != claimed:
        what = f"its bytes are {found}" if found else "its bytes are of no type llmctl recognises"
        raise InputError(f"attachment {source} is not {claimed}: {what}")
    if found is None:
        raise InputError(f"attachment {source}: not a type llmctl recognises by its bytes "
                         f"({', '.join(KNOWN_TYPES)})")
    width, height = image_size(data, found) if found.startswith("image/") else (None, None)
    if found.startswith("image/") and width is None:
        raise InputError(f"attachment {source}: a {found} whose size cannot be read (a damaged file?)")
    return Attachment(source, found, data, hashlib.sha256(data).hexdigest(), width, height)


def image_size(data: bytes, mime: str) -> tuple[int | None, int | None]:
    """Width and height in pixels from the image's header, without decoding it."""
    try:
        if mime == "image/png":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if mime == "image/gif":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if mime == "image/jpeg":
            return _jpeg_size(data)
        if mime == "image/webp":
            return _webp_size(data)
    except struct.error:
        pass
    return None, None


def _jpeg_size(data: bytes) -> tuple[int | None, int | None]:
    at = 2
    while at + 9 < len(data):
        if data[at] != 0xFF:
            return None, None
        marker = data[at + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            at += 2
            continue
        length = struct.unpack(">H", data[at + 2:at + 4])[0]
        # Start-of-frame markers (baseline, progressive, ...) carry the size; C4, C8, CC do not.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int | None, int | None]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None, None
