"""Tesseract's engine kept in each OCR worker (issue 18) reads every page exactly as the
`tesseract` command did: the same TSV, byte for byte, so the same words, lines, order and
confidences; its deadline makes a page unreadable; a worker loads it as it starts; a machine
without the library reads pages with the command, and says so once."""

from __future__ import annotations

import io
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mailintake_classifier.adapters import ocr, tesseract
from mailintake_classifier.adapters.ocr import OcrPool, PageJob
from mailintake_common.workers import WorkerCrashed, WorkerTimedOut
from tests.factories import classifier_pages as pages
from tests.factories.large_scans import grainy_page

CORPUS = Path(__file__).parents[2] / "corpus"
NOTE = ["Dear Sir or Madam,", "I have moved house and my new address is below.", "Customer reference 123456789A"]
BENCH_LINE = "Child support change of circumstances for customer reference 123456789A dated 3 March"
SIDEWAYS = [f"Please find enclosed my payslips for the last {i + 2} weeks as you asked" for i in range(8)]


def _pdf_page(content: bytes, index: int = 0, dpi: int = 200) -> Image.Image:
    return ocr._load_image(PageJob("pdf", content, index, dpi=dpi))


def _image(content: bytes, index: int = 0) -> Image.Image:
    return ocr._load_image(PageJob("image", content, index))


# Pages as the workers see them after decoding: the tests' renders, the bench's pages, a scanned
# PDF, a TIFF frame, a large grainy scan, a photograph and a real typeset PDF from the corpus.
PAGES = {
    "letter, sans": lambda: _image(pages.png(pages.render(NOTE, pages.FONTS[0]))),
    "letter, serif": lambda: _image(pages.png(pages.render(NOTE, pages.FONTS[1]))),
    "letter, mono": lambda: _image(pages.png(pages.render(NOTE, pages.FONTS[2]))),
    "noisy and skewed": lambda: _image(pages.png(pages.render(NOTE, noise=0.004, skew_deg=1.5))),
    "grainy serif": lambda: _image(pages.png(pages.render(NOTE, pages.FONTS[1], noise=0.02))),
    "bench page": lambda: _image(
        pages.png(pages.render([f"{BENCH_LINE} line {n}" for n in range(12)], pages.FONTS[1], size=(1700, 1000)))
    ),
    "sideways": lambda: _image(pages.png(pages.render(SIDEWAYS, size=(1600, 800)).rotate(90, expand=True))),
    "upside down": lambda: _image(pages.png(pages.render(SIDEWAYS, size=(1600, 800)).rotate(180, expand=True))),
    "second TIFF frame": lambda: _image(
        pages.tiff([pages.render(["Notice of assessment"]), pages.render(["Page 2 of 2", "Thank you"])]), 1
    ),
    "scanned PDF": lambda: _pdf_page(pages.image_pdf([pages.render(["Objection to a decision", *NOTE])]), dpi=150),
    "separator sheet": lambda: _image(pages.png(pages.render(["BATCH SEPARATOR SHEET"]))),
    "large grainy scan": lambda: grainy_page(["Registry of the Federal Circuit Court", *NOTE], size=(1240, 1754)),
    "photograph": lambda: _image((CORPUS / "pillow" / "hopper.png").read_bytes()),
    "typeset PDF": lambda: _pdf_page((CORPUS / "pypdf" / "crazyones.pdf").read_bytes(), dpi=150),
}


@pytest.fixture(scope="module")
def engine() -> Iterator[tesseract.Engine]:
    ocr.init_worker()  # as a worker starts: OMP_THREAD_LIMIT=1, then the library and the eng engine
    loaded = tesseract.engine_for("eng")
    assert loaded is not None, "libtesseract.so.5 is on this machine: the engine must load"
    yield loaded


def command_tsv(image: Image.Image, language: str = "eng", timeout_s: float = 120) -> str:
    """What the classifier ran before issue 18: the `tesseract` command through pytesseract, on a PGM."""
    import pytesseract

    image.format = "PPM"
    tsv: str = pytesseract.image_to_data(image, lang=language, config="--psm 3", timeout=timeout_s)
    header, rows = tsv.split("\n", 1)
    assert header.startswith("level\t")
    return rows


def before_issue_18(image: Image.Image) -> tuple[str, float | None]:
    """The classifier's reading of a page before issue 18, as it was written (pytesseract's DICT)."""
    import pytesseract

    image.format = "PPM"
    data = pytesseract.image_to_data(image, lang="eng", config="--psm 3", output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if word.strip() and conf >= 0:
            lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
            confidences.append(conf)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return text, (sum(confidences) / len(confidences) if confidences else None)


@pytest.mark.parametrize("name", list(PAGES))
def test_the_engine_reads_a_page_exactly_as_the_tesseract_command(engine: tesseract.Engine, name: str) -> None:
    image = PAGES[name]()
    assert image.mode in tesseract.MODES
    from_engine = engine.tsv(image, 120)
    assert from_engine == command_tsv(image)
    assert ocr._read(image, "eng", 120) == ocr._text_and_confidence(from_engine) == before_issue_18(image)
    if name not in ("photograph", "separator sheet"):
        assert len(ocr._read(image, "eng", 120)[0]) > 10


def test_pages_read_one_after_another_by_one_engine_do_not_depend_on_each_other(engine: tesseract.Engine) -> None:
    first, other = PAGES["letter, serif"](), PAGES["typeset PDF"]()
    alone = engine.tsv(first, 120)
    engine.tsv(other, 120)
    assert engine.tsv(first, 120) == alone


def test_a_page_turned_by_orientation_detection_reads_as_with_the_command(engine: tesseract.Engine) -> None:
    """The orientation retry keeps running the command (`--psm 0`); the turned page is read by the engine."""
    for name in ("sideways", "upside down"):
        turned = ocr._rotate_by_osd(PAGES[name](), 60)
        assert turned is not None
        assert engine.tsv(turned, 120) == command_tsv(turned)
        assert "payslips" in ocr._read(turned, "eng", 120)[0]


def test_a_page_past_the_engines_deadline_is_unreadable_and_the_engine_reads_the_next(
    engine: tesseract.Engine,
) -> None:
    """Issue 15 still holds in-process: each run has a time limit (`tesseract_timeout_s`)."""
    image = PAGES["bench page"]()
    with pytest.raises(tesseract.TesseractFailed):
        engine.tsv(image, 0.001)
    content = pages.png(pages.render(NOTE))
    assert ocr.ocr_page(PageJob("image", content, 0, timeout_s=0.001)).confidence == 0.0
    assert "123456789A" in ocr.ocr_page(PageJob("image", content, 0)).text


def test_another_language_gets_its_own_engine_and_reads_as_the_command(
    engine: tesseract.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only English is installed here: a second language is English's data under another name,
    found the way the command finds it (TESSDATA_PREFIX)."""
    installed = Path("/usr/share/tesseract-ocr/5/tessdata")
    shutil.copy(installed / "eng.traineddata", tmp_path / "eng.traineddata")
    shutil.copy(installed / "eng.traineddata", tmp_path / "nmd.traineddata")
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path))
    image = PAGES["letter, mono"]()
    try:
        other = tesseract.engine_for("nmd")
        assert other is not None and other is not engine
        assert tesseract.loaded() == ["eng", "nmd"]
        assert other.tsv(image, 120) == command_tsv(image, "nmd")
        assert ocr._read(image, "nmd", 120)[0] == ocr._read(image, "eng", 120)[0]
        # A language that is not installed fails with the engine as with the command: unreadable.
        assert tesseract.engine_for("xyz") is None
        assert ocr.ocr_page(PageJob("image", pages.png(pages.render(NOTE)), 0, language="xyz")).confidence == 0.0
    finally:
        tesseract.start(tesseract.LIBRARY, "eng")


def test_without_the_library_pages_are_read_by_the_command_and_that_is_logged_once(
    engine: tesseract.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    letter, bench = PAGES["letter, sans"](), PAGES["bench page"]()
    expected = [ocr._read(letter, "eng", 120), ocr._read(bench, "eng", 120)]
    caplog.set_level(logging.INFO, logger=tesseract.__name__)
    tesseract.start("/nonexistent/libtesseract.so.5", "eng")
    try:
        assert tesseract.loaded() == [] and tesseract.engine_for("eng") is None
        assert [ocr._read(letter, "eng", 120), ocr._read(bench, "eng", 120)] == expected
        (record,) = [r for r in caplog.records if r.name == tesseract.__name__]
        assert record.levelno == logging.WARNING and "tesseract command" in record.getMessage()
        assert "123456789A" not in caplog.text and "nonexistent" not in caplog.text
    finally:
        tesseract.start(tesseract.LIBRARY, "eng")
    assert tesseract.loaded() == ["eng"]


async def test_each_worker_loads_the_engine_as_it_starts_and_a_replaced_worker_too() -> None:
    pool = OcrPool(1)
    try:
        assert await pool.run(tesseract.loaded, timeout_s=60) == ["eng"]  # before any page
        pool.page_timeout_s = 0.2  # the pool's own limit on a page still ends a worker stuck in the engine
        page = grainy_page(["Registry of the Federal Circuit Court", *NOTE], size=(2480, 3508))
        with pytest.raises(WorkerTimedOut):
            await pool.read([PageJob("image", pages.png(page), 0)])
        assert await pool.run(tesseract.loaded, timeout_s=60) == ["eng"]
        pool.page_timeout_s = 600
        (result,) = await pool.read([PageJob("image", pages.png(pages.render(NOTE)), 0)])
        assert "123456789A" in result.text
    finally:
        pool.close()


async def test_a_worker_without_the_library_reads_the_same_words_with_the_command() -> None:
    content = pages.png(pages.render([f"{BENCH_LINE} line {n}" for n in range(6)], size=(1700, 600)))
    results = []
    for library in (tesseract.LIBRARY, "/nonexistent/libtesseract.so.5", ""):
        pool = OcrPool(1, tesseract_library=library)
        try:
            assert await pool.run(tesseract.loaded, timeout_s=60) == (["eng"] if library == tesseract.LIBRARY else [])
            (page,) = await pool.read([PageJob("image", content, 0)])
            results.append((page.text, page.confidence))
        finally:
            pool.close()
    assert results[0] == results[1] == results[2]
    assert "123456789A" in results[0][0]


def test_the_pgm_the_command_was_given_holds_the_pixels_the_engine_is_given() -> None:
    """The engine gets the grey rows as they are; the command got them in a PGM (no resolution)."""
    image = PAGES["grainy serif"]()
    buffer = io.BytesIO()
    image.save(buffer, format="PPM")
    assert Image.open(io.BytesIO(buffer.getvalue())).tobytes() == image.tobytes()
    assert "dpi" not in Image.open(io.BytesIO(buffer.getvalue())).info


# Tasks run in an OCR worker: module-level so they pickle by reference.
def crash_inside_the_engine() -> None:
    lib = tesseract._State.lib
    assert lib is not None
    lib.TessBaseAPIRecognize(None, None)  # no engine behind the handle: the library dereferences it


def read_a_large_page_with_little_memory_left() -> tuple[str, str]:
    import resource

    engine = tesseract.engine_for("eng")
    assert engine is not None
    buffer = io.BytesIO()
    pages.render(NOTE * 12, size=(2480, 3508)).save(buffer, format="PPM")
    page = buffer.getvalue()  # made before the limit is lowered: only the engine allocates under it
    with open("/proc/self/status") as status:
        in_use = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (in_use + 2 * 1024 * 1024, hard))
    try:
        engine.read(page, 120)
        outcome = "read"
    except tesseract.TesseractFailed:
        outcome = "unreadable"
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return outcome, ocr._read(_image(pages.png(pages.render(NOTE))), "eng", 120)[0]


async def test_a_crash_inside_the_engine_takes_only_its_worker_which_is_replaced_with_an_engine() -> None:
    pool = OcrPool(1)
    try:
        with pytest.raises(WorkerCrashed, match="SIGSEGV"):
            await pool.run(crash_inside_the_engine, timeout_s=60)
        assert await pool.run(tesseract.loaded, timeout_s=60) == ["eng"]
        (result,) = await pool.read([PageJob("image", pages.png(pages.render(NOTE)), 0)])
        assert "123456789A" in result.text
    finally:
        pool.close()


async def test_the_workers_memory_limit_binds_the_engine_in_its_process() -> None:
    """Issue 15: RLIMIT_AS now covers Tesseract's own allocations (no separate process): a page
    it cannot allocate for is unreadable, and the engine reads the next page."""
    pool = OcrPool(1)
    try:
        outcome, next_page = await pool.run(read_a_large_page_with_little_memory_left, timeout_s=120)
        assert outcome == "unreadable"
        assert "123456789A" in next_page
    finally:
        pool.close()


def test_a_page_over_the_engines_pixel_bound_is_read_by_the_command_with_the_same_words(
    engine: tesseract.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large page runs in the command's own address space, not inside the worker's memory limit."""
    bench = PAGES["bench page"]()
    expected = ocr._read(bench, "eng", 120)
    engines_asked: list[str] = []
    monkeypatch.setattr(tesseract, "engine_for", lambda language: engines_asked.append(language))
    monkeypatch.setattr(ocr, "ENGINE_MAX_PIXELS", bench.width * bench.height - 1)
    assert ocr._read(bench, "eng", 120) == expected
    assert engines_asked == []  # the command read it
    monkeypatch.setattr(ocr, "ENGINE_MAX_PIXELS", bench.width * bench.height)
    ocr._read(bench, "eng", 120)  # at the bound: the engine is asked (and, patched, answers None)
    assert engines_asked == ["eng"]
