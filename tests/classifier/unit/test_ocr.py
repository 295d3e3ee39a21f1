"""OCR through the worker pool on pages the tests render (several fonts, noise, skew,
multi-page TIFF, a scanned PDF, a PDF with a text layer), and page quality."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailintake_classifier.adapters.ocr import OcrPool
from mailintake_classifier.adapters.pages import image_frames, pdf_pages
from mailintake_classifier.domain.classify import ItemText, classify
from mailintake_classifier.domain.identifiers import find_crns
from mailintake_classifier.domain.quality import PageReading
from tests.factories import classifier_pages as pages

LETTER = ["Child Support", "Change of circumstances", "Customer reference 123456789A", "I started a new job."]


@pytest.fixture(scope="module")
def pool() -> Iterator[OcrPool]:
    ocr = OcrPool(2)
    yield ocr
    ocr.close()


async def read(pool: OcrPool, jobs_of: list) -> list[PageReading]:  # type: ignore[type-arg]
    jobs = [job for _, _, _, job in jobs_of if job is not None]
    results = iter(await pool.read(jobs))
    readings = []
    for part_id, number, text, job in jobs_of:
        if job is None:
            readings.append(PageReading(part_id, number, text or "", None, 1.0))
        else:
            ocr = next(results)
            readings.append(PageReading(part_id, number, ocr.text, ocr.confidence, ocr.ink))
    return readings


@pytest.mark.parametrize("font_name", pages.FONTS)
async def test_ocr_reads_rendered_text_in_several_fonts(pool: OcrPool, font_name: str) -> None:
    image = pages.png(pages.render(LETTER, font_name))
    (reading,) = await read(pool, image_frames("p", image, "eng", 45, 10))
    assert "circumstances" in reading.text.lower()
    assert find_crns(reading.text) == ["123456789A"]
    assert reading.ocr_confidence is not None and reading.ocr_confidence > 70


async def test_ocr_copes_with_mild_noise_and_skew(pool: OcrPool) -> None:
    image = pages.png(pages.render(LETTER, noise=0.004, skew_deg=1.5))
    (reading,) = await read(pool, image_frames("p", image, "eng", 45, 10))
    assert "circumstances" in reading.text.lower()
    assert reading.ocr_confidence is not None and reading.ocr_confidence > 50


async def test_multi_page_tiff_is_read_page_by_page_and_missing_pages_are_noticed(pool: OcrPool) -> None:
    frames = [pages.render(["Application for child support", f"Page {n} of 3"]) for n in (1, 2)]
    readings = await read(pool, image_frames("p", pages.tiff(frames), "eng", 45, 10))
    assert [r.page for r in readings] == [1, 2]
    assert "page 2 of 3" in readings[1].text.lower()
    result = classify(ItemText("scan", pages=readings))
    assert result.missing_pages is True
    assert result.document.document_type == "application_child_support"


async def test_scanned_pdf_pages_are_ocrd(pool: OcrPool) -> None:
    pdf = pages.image_pdf([pages.render(["Freedom of Information request"]), pages.render(["Page two"])])
    readings = await read(pool, pdf_pages("p", pdf, 20, 150, "eng", 45, 10))
    assert len(readings) == 2 and all(r.ocr_confidence is not None for r in readings)
    assert "freedom of information" in readings[0].text.lower()


async def test_pdf_text_layer_is_used_without_ocr(pool: OcrPool) -> None:
    pdf = pages.text_pdf([["RETURN TO SENDER", "Not known at this address"], ["Second page text here for sure"]])
    readings = await read(pool, pdf_pages("p", pdf, 20, 150, "eng", 45, 10))
    assert [r.ocr_confidence for r in readings] == [None, None]
    assert "RETURN TO SENDER" in readings[0].text


async def test_blank_pages_and_separator_sheets_are_flagged(pool: OcrPool) -> None:
    tiff = pages.tiff([pages.blank_page(), pages.render(["BATCH SEPARATOR SHEET"]), pages.render(LETTER)])
    readings = await read(pool, image_frames("p", tiff, "eng", 45, 10))
    result = classify(ItemText("scan", pages=readings))
    assert [(q.blank, q.separator) for q in result.pages] == [(True, False), (False, True), (False, False)]
    assert result.ocr_confidence is not None


async def test_a_page_that_cannot_be_decoded_is_unreadable_not_an_error(pool: OcrPool) -> None:
    from mailintake_classifier.adapters.ocr import PageJob

    truncated = pages.png(pages.render(LETTER))[:400]
    (result,) = await pool.read([PageJob("image", truncated, 0)])
    assert (result.text, result.confidence) == ("", 0.0)


@pytest.mark.parametrize("angle", [90, 180])
async def test_a_page_scanned_sideways_or_upside_down_is_turned_before_reading(pool: OcrPool, angle: int) -> None:
    from mailintake_classifier.adapters.ocr import PageJob

    lines = [f"Child support change of circumstances line {i} for the customer" for i in range(10)]
    page = pages.render(lines, size=(1600, 800)).rotate(angle, expand=True, fillcolor=255)
    (result,) = await pool.read([PageJob("image", pages.png(page), 0)])
    assert "change of circumstances" in result.text.lower()
    assert result.confidence is not None and result.confidence > 80


async def test_a_page_tesseract_cannot_finish_in_time_is_unreadable_and_the_pool_carries_on() -> None:
    """Issue 15: Tesseract runs with a timeout; the page goes to a person (confidence 0)."""
    from mailintake_classifier.adapters.ocr import PageJob

    impatient = OcrPool(1, tesseract_timeout_s=0.01)
    try:
        (result,) = await impatient.read([PageJob("image", pages.png(pages.render(LETTER)), 0)])
        assert (result.text, result.confidence) == ("", 0.0)
        impatient.tesseract_timeout_s = 120
        (result,) = await impatient.read([PageJob("image", pages.png(pages.render(LETTER)), 0)])
        assert "123456789A" in find_crns(result.text)
    finally:
        impatient.close()


def test_tesseract_reads_an_uncompressed_page_exactly_as_it_read_the_png() -> None:
    """The pool hands Tesseract a PGM instead of a PNG (issue 18: cheaper to write and read); the
    words, their places and confidences are the same."""
    import io

    import pytesseract
    from PIL import Image

    lines = ["Dear Sir, I am writing about my assessment.", "My reference is 403 992 117.", "Thank you"]
    image = Image.open(io.BytesIO(pages.png(pages.render(lines, pages.FONTS[1], noise=0.02)))).convert("L")
    read = {}
    for kind in ("PNG", "PPM"):
        image.format = kind
        read[kind] = pytesseract.image_to_data(image, config="--psm 3", output_type=pytesseract.Output.DICT)
    assert read["PPM"] == read["PNG"]
    assert "assessment." in read["PPM"]["text"]
