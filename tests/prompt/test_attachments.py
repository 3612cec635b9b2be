"""Attachments: a real PNG made here, sent in each provider's format, checked, and counted by the documented rules."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from support.prompt_support import api, run_cli

from llmctl.providers.image_tokens import mistral_patches, openai_patches, openai_tiles


def png_bytes(width: int, height: int) -> bytes:
    """A valid RGB PNG, written by hand (signature, IHDR, one zlib IDAT, IEND, each chunk with its CRC)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes([x % 256 for x in range(width * 3)]) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(1000, 600))
    return path


def test_openai_gets_an_image_url_part_with_the_png_as_a_data_url(wire: Any, recorder: Any, photo: Path) -> None:
    recorder.reply(json_body=api.fixture_json("openai_chat.json"))
    result = wire("complete", "-m", "openai:gpt-4o-mini", "-a", str(photo), "--json", "What is in this picture?")
    assert result.exit_code == 0, result.output
    data = base64.b64encode(photo.read_bytes()).decode()
    assert recorder.body()["messages"][-1] == {"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]}
    # The record keeps where it came from, its type and hash (what a stored exchange keeps), not the bytes.
    assert json.loads(result.stdout)["attachments"] == [
        {"path": str(photo), "type": "image/png", "sha256": hashlib.sha256(photo.read_bytes()).hexdigest()}]


def test_mistral_gets_image_url_and_document_url_chunks(wire: Any, recorder: Any, photo: Path,
                                                        tmp_path: Path) -> None:
    pdf = tmp_path / "notes.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    recorder.reply(json_body=api.fixture_json("mistral_chat.json"))
    result = wire("complete", "-m", "mistral:mistral-small-latest", "-a", str(photo), "--at", str(pdf),
                  "application/pdf", "Describe both")
    assert result.exit_code == 0, result.output
    content = recorder.body()["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "Describe both"}
    assert content[1] == {"type": "image_url",
                          "image_url": "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()}
    assert content[2] == {"type": "document_url",
                          "document_url": "data:application/pdf;base64," + base64.b64encode(pdf.read_bytes()).decode()}


def test_a_model_that_takes_no_images_is_exit_2_before_sending(wire: Any, recorder: Any, photo: Path) -> None:
    recorder.reply(json_body=api.fixture_json("openai_chat.json"))
    result = wire("complete", "-m", "openai:gpt-3.5-turbo", "-a", str(photo), "hi")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"llmctl: error: openai:gpt-3.5-turbo does not take image/png attachments "
                                     f"({photo}); it takes no attachments")
    assert recorder.requests == []


def test_a_missing_or_mistyped_attachment_is_exit_2_naming_it(photo: Path, tmp_path: Path) -> None:
    missing = run_cli("complete", "-a", str(tmp_path / "nope.png"), "hi")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"llmctl: error: attachment {tmp_path / 'nope.png'}: no such file"
    claimed = run_cli("complete", "--at", str(photo), "application/pdf", "hi")
    assert claimed.exit_code == 2
    assert claimed.stderr.strip() == (f"llmctl: error: attachment {photo} is not application/pdf: "
                                      "its bytes are image/png")
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    named = run_cli("complete", "-a", str(fake), "hi")
    assert named.exit_code == 2 and f"attachment {fake}: not a type llmctl recognises" in named.stderr


def test_a_local_gguf_model_says_what_it_would_need(photo: Path) -> None:
    result = run_cli("complete", "-m", "smollm2", "-a", str(photo), "hi")
    assert result.exit_code == 2
    assert "vision projector (mmproj)" in result.stderr


def test_openai_tile_rule_matches_the_documented_examples() -> None:
    # OpenAI's vision guide: 1024x1024 at high detail is 4 tiles, 765 tokens; 2048x4096 is scaled to
    # 768x1536, 6 tiles, 1105 tokens; low detail is the base alone.
    assert openai_tiles(1024, 1024, base=85, tile=170) == 765
    assert openai_tiles(2048, 4096, base=85, tile=170) == 1105
    assert openai_tiles(4096, 8192, base=85, tile=170, detail="low") == 85
    # The patch rule: 1024x1024 is 1024 patches; 1800x2400 is shrunk to 1056x1408, 1452 patches.
    assert openai_patches(1024, 1024, multiplier=1.0) == 1024
    assert openai_patches(1800, 2400, multiplier=1.0) == 1452


@pytest.mark.parametrize("model, expected", [("openai:gpt-4o", 85 + 170 * 4), ("openai:gpt-4o-mini", 2833 + 5667 * 4)])
def test_estimate_counts_the_png_by_the_tile_rule(photo: Path, model: str, expected: int) -> None:
    with_image = run_cli("complete", "--estimate", "--json", "-m", model, "-a", str(photo), "What is this?")
    without = run_cli("complete", "--estimate", "--json", "-m", model, "What is this?")
    assert with_image.exit_code == 0, with_image.output
    record = json.loads(with_image.stdout)
    # 1000x600 fits 2048 and its short side is under 768: 2 x 2 tiles of 512 px.
    assert record["input_tokens"] - json.loads(without.stdout)["input_tokens"] == expected
    assert record["attachment_tokens"] == {"tokens": expected, "estimated": True}


def test_mistral_patch_rule_agrees_with_mistral_common(photo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mistral_common.protocol.instruct.chunk import ImageChunk
    from mistral_common.tokens.tokenizers import image as mistral_image
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs
    from PIL import Image

    # Its encoder resamples the pixels with OpenCV (not installed); the tokens do not depend on them.
    monkeypatch.setattr(mistral_image, "transform_image", lambda image, size: None)
    for width, height, config in [(1000, 600, ImageConfig(14, 1540, 2)), (3000, 200, ImageConfig(16, 1024)),
                                  (17, 33, ImageConfig(16, 1024))]:
        encoder = ImageEncoder(config, SpecialImageIDs(img=10, img_break=12, img_end=13))
        reference = len(encoder(ImageChunk(image=Image.new("RGB", (width, height)))).tokens)
        ours = mistral_patches(width, height, patch=config.image_patch_size, max_size=config.max_image_size,
                               merge=config.spatial_merge_size)
        assert ours == reference, (width, height)
    with_image = run_cli("complete", "--estimate", "--json", "-m", "mistral:mistral-small-latest", "-a", str(photo),
                         "What?")
    assert json.loads(with_image.stdout)["attachment_tokens"]["tokens"] == mistral_patches(
        1000, 600, patch=14, max_size=1540, merge=2)


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("GIF", "image/gif"), ("WEBP", "image/webp"),
                                       ("PNG", "image/png")])
def test_type_and_size_are_read_from_the_header_as_pillow_reads_them(tmp_path: Path, fmt: str, mime: str) -> None:
    from PIL import Image

    from llmctl.core.attachments import load_attachment

    path = tmp_path / f"picture.{fmt.lower()}"
    Image.new("RGB", (321, 123), (200, 10, 10)).save(path, fmt)
    found = load_attachment(str(path))
    with Image.open(path) as reference:
        assert (found.mime, found.width, found.height) == (mime, *reference.size)


def test_jpeg_on_the_openai_wire(wire: Any, recorder: Any, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 48)).save(photo, "JPEG")
    recorder.reply(json_body=api.fixture_json("openai_chat.json"))
    result = wire("complete", "-a", str(photo), "What is in this picture?", "-m", "openai:gpt-4o-mini")
    assert result.exit_code == 0, result.output
    part = recorder.body()["messages"][-1]["content"][1]
    assert part["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
