"""Image sizes are read from headers without touching Pillow's process-wide settings (issue 15):
screening runs in threads, and `Image.MAX_IMAGE_PIXELS` protects every other Pillow user."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from PIL import Image

from mailintake_quarantine.adapters.content import image_pixels
from tests.factories import quarantine_files as files
from tests.factories.quarantine_headers import jpeg_header, tiff_header
from tests.quarantine.unit.conftest import rules, screen_attachment

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


class _Watched(types.ModuleType):
    """PIL.Image with every assignment to MAX_IMAGE_PIXELS recorded."""

    writes: ClassVar[list[object]] = []

    def __setattr__(self, name: str, value: object) -> None:
        if name == "MAX_IMAGE_PIXELS":
            _Watched.writes.append(value)
        super().__setattr__(name, value)


@pytest.fixture
def watched_pillow() -> Iterator[list[object]]:
    module = sys.modules["PIL.Image"]
    original = module.__class__
    _Watched.writes = []
    module.__class__ = _Watched
    try:
        yield _Watched.writes
    finally:
        module.__class__ = original


@pytest.mark.parametrize(
    "content",
    [jpeg_header(30000, 30000), tiff_header(20000, 20000), files.small_png()],
    ids=["jpeg", "tiff", "png"],
)
def test_reading_an_image_header_never_changes_pillows_global_limit(
    watched_pillow: list[object], content: bytes
) -> None:
    before = Image.MAX_IMAGE_PIXELS
    assert image_pixels(content) is not None
    assert watched_pillow == [] and before == Image.MAX_IMAGE_PIXELS


@pytest.mark.parametrize(
    ("name", "pixels"),
    [("pillow/decompression_bomb.gif", 65535 * 65535), ("pillow/decompression_bomb.ico", 65535 * 65535)],
)
def test_pillows_own_bombs_are_measured_and_refused(watched_pillow: list[object], name: str, pixels: int) -> None:
    content = (CORPUS / name).read_bytes()
    measured = image_pixels(content)
    assert measured is not None and measured >= 100_000_000
    assert "image_too_large" in rules(screen_attachment(Path(name).name, content))
    assert watched_pillow == []


def test_a_large_jpeg_header_is_still_measured_exactly() -> None:
    assert image_pixels(jpeg_header(30000, 20000)) == 600_000_000
