"""A large part reaches the classifier's workers as a file (issue 17): PDFs and images are read,
and their pages OCR'd, from the file's path, with the same readings as from bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.adapters.parts import PartReading, read_part
from mailintake_classifier.settings import ClassifierSettings
from mailintake_common.spool import PartContent
from tests.factories import classifier_pages as pages

SETTINGS = ClassifierSettings()


@pytest.fixture(scope="module")
def pool() -> Iterator[OcrPool]:
    ocr = OcrPool(2)
    yield ocr
    ocr.close()


def in_file(tmp_path: Path, content: bytes) -> PartContent:
    path = tmp_path / "part-1"
    path.write_bytes(content)
    return PartContent(len(content), path=str(path))


async def texts(pool: OcrPool, reading: PartReading) -> list[str]:
    jobs = [job for _, _, _, job in reading.pages if job is not None]
    ocr = iter(await pool.read(jobs))
    return [text if job is None else next(ocr).text for _, _, text, job in reading.pages]


async def read_both_ways(pool: OcrPool, tmp_path: Path, media_type: str, content: bytes) -> tuple[list[str], list[str]]:
    from_bytes = await pool.run(read_part, "scan", media_type, "c0", "scan 1", content, SETTINGS, 10, timeout_s=60)
    spooled = in_file(tmp_path, content)
    from_file = await pool.run(read_part, "scan", media_type, "c0", "scan 1", spooled, SETTINGS, 10, timeout_s=60)
    jobs = [job for _, _, _, job in from_file.pages if job is not None]
    assert jobs and all(job.path == spooled.path and job.content == b"" for job in jobs)
    return await texts(pool, from_bytes), await texts(pool, from_file)


async def test_a_scanned_pdf_in_a_file_is_read_and_ocrd_from_its_path(pool: OcrPool, tmp_path: Path) -> None:
    pdf = pages.image_pdf(
        [pages.render(["Dear Sir or Madam,", "please find my tax return enclosed."]), pages.render(["Page two"])]
    )
    from_bytes, from_file = await read_both_ways(pool, tmp_path, "application/pdf", pdf)
    assert from_file == from_bytes and "tax return" in from_file[0].lower()


async def test_a_multi_page_tiff_in_a_file_is_ocrd_frame_by_frame_from_its_path(pool: OcrPool, tmp_path: Path) -> None:
    frames = [pages.render(["Notice to the registry", f"Page {n} of 2"]) for n in (1, 2)]
    from_bytes, from_file = await read_both_ways(pool, tmp_path, "image/tiff", pages.tiff(frames))
    assert from_file == from_bytes and "page 2 of 2" in from_file[1].lower()


async def test_a_pdf_text_layer_and_a_text_attachment_in_files_read_as_from_bytes(
    pool: OcrPool, tmp_path: Path
) -> None:
    pdf = pages.text_pdf([["Employer notice of termination", "The employee's last day was 3 May."]])
    from_file = read_part("attachment", "application/pdf", "c1", "attachment 1", in_file(tmp_path, pdf), SETTINGS, 10)
    assert [job for _, _, _, job in from_file.pages] == [None]
    assert "last day was 3 May" in (from_file.pages[0][2] or "")
    note = b"I would like to update my address, thank you."
    text = read_part("attachment", "text/plain", "c2", "attachment 2", in_file(tmp_path, note), SETTINGS, 10)
    assert [s.text for s in text.sections] == [note.decode()]
