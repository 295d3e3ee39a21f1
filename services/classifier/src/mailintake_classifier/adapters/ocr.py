"""OCR in a pool of worker processes: one page per task, `OMP_THREAD_LIMIT=1` in each worker.

Tesseract runs fastest single-threaded with one process per core (measured here: ~7 s for a
dense A4 page at 300 dpi single-threaded, 15-17 s with its own threading), so the pool is as
wide as the machine and the event loop only awaits results. Workers decode images and render
PDF pages themselves, so large pixels never cross the process boundary.

The pool is supervised (`mailintake_common.workers`, issue 15): each worker has a memory limit
that Tesseract and pdftoppm inherit, each page a time limit, and each Tesseract run and page
rendering its own timeout. A page that Tesseract cannot finish is unreadable (a person reviews
it); a page that kills its worker or overruns fails the try (`WorkerLost`), the worker is
replaced, and the consumer counts it toward the DLQ. The classifier also reads parts
(PDF text layers, HTML, Office) in the same workers (handlers.py).

Each worker keeps Tesseract's engine loaded (`tesseract.py`, issue 18) and reads pages through
it, word for word what the `tesseract` command gives; the command remains for orientation
detection and for a machine without the library.
"""

from __future__ import annotations

import functools
import io
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from mailintake_classifier.adapters import tesseract
from mailintake_common import observability as obs
from mailintake_common.settings import MiB
from mailintake_common.workers import SupervisedPool


@dataclass(frozen=True)
class PageJob:
    kind: str  # "image" (one frame of an image file) or "pdf" (one page of a PDF)
    content: bytes
    index: int  # frame or page number, 0-based
    language: str = "eng"
    dpi: int = 200
    retry_below: float = 45.0
    timeout_s: float = 120.0  # each Tesseract run and the page's rendering (the pool sets it)
    path: str | None = None  # the file holding the content instead of `content` (a large part, issue 17)


@dataclass(frozen=True)
class PageText:
    text: str
    confidence: float | None
    ink: float
    seconds: float = 0.0  # time the worker spent on the page (metrics only)


def init_worker(tesseract_library: str = tesseract.LIBRARY, language: str = "eng") -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # before the library loads: OpenMP reads it once
    import pytesseract  # noqa: F401 - once as the worker starts, not in the first page's time
    from PIL import Image

    # Quarantine already refused images declaring more than its pixel limit (100 Mpx by default).
    Image.MAX_IMAGE_PIXELS = 100_000_000
    tesseract.start(tesseract_library, language)
    # The part readers too (BeautifulSoup, lxml, the Office readers: about 0.1 s of CPU), else the
    # worker's first part pays them, within that document's time and its time limit (issue 18)
    from mailintake_classifier.adapters import parts  # noqa: F401


def _load_image(job: PageJob):
    from PIL import Image, ImageOps

    if job.kind == "pdf":
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(job.path) if job.path else Path(tmp, "in.pdf")
            if not job.path:
                source.write_bytes(job.content)
            page = str(job.index + 1)
            subprocess.run(
                [
                    "pdftoppm",
                    "-r",
                    str(job.dpi),
                    "-f",
                    page,
                    "-l",
                    page,
                    "-gray",
                    "-png",
                    "-singlefile",
                    str(source),
                    str(Path(tmp, "page")),
                ],
                check=True,
                capture_output=True,
                timeout=job.timeout_s,
            )
            image = Image.open(Path(tmp, "page.png"))
            image.load()
            return image
    image = Image.open(job.path or io.BytesIO(job.content))  # a path: Pillow reads only what the frame needs
    image.seek(job.index)
    return ImageOps.exif_transpose(image.convert("L"))


def _ink(image) -> float:
    histogram = (image if image.mode == "L" else image.convert("L")).histogram()
    total = sum(histogram) or 1
    return sum(histogram[:128]) / total


# Pages larger than this go to the `tesseract` command, in its own address space: the engine runs
# inside the worker, whose memory limit already holds Python, the decoded page and its PGM, and the
# engine's saving (its start, ~60-90 ms a page) is small beside a large page's reading. 40 Mpx is
# an A4 page at 600 dpi with room; quarantine refuses anything over 100 Mpx.
ENGINE_MAX_PIXELS = 40_000_000


def _read(image, language: str, timeout_s: float) -> tuple[str, float | None]:
    in_engine = image.mode in tesseract.MODES and image.width * image.height <= ENGINE_MAX_PIXELS
    engine = tesseract.engine_for(language) if in_engine else None
    if engine is not None:
        rows = engine.tsv(image, timeout_s)
    else:
        import pytesseract

        # pytesseract hands Tesseract a file in the image's format, PNG when it has none: an
        # uncompressed PGM is written and read in a fraction of the time (same pixels, same words).
        image.format = "PPM"
        rows = pytesseract.image_to_data(image, lang=language, config="--psm 3", timeout=timeout_s)
    return _text_and_confidence(rows)


def _text_and_confidence(tsv: str) -> tuple[str, float | None]:
    """The page's words in Tesseract's block, paragraph and line order, and their mean confidence
    (each truncated to an integer first, as pytesseract's DICT output did)."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for row in tsv.split("\n"):
        cells = row.split("\t")
        if len(cells) < 11 or cells[0] == "level":
            continue
        word = cells[11] if len(cells) > 11 else ""
        conf = int(float(cells[10]))
        if word.strip() and conf >= 0:
            lines.setdefault((int(cells[2]), int(cells[3]), int(cells[4])), []).append(word)
            confidences.append(conf)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return text, (sum(confidences) / len(confidences) if confidences else None)


UNREADABLE = PageText("", 0.0, 1.0)  # a page that could not be decoded: confidence 0, so it is reviewed


def ocr_page(job: PageJob) -> PageText:
    """Runs in a worker: one page; a page that cannot be decoded or read is UNREADABLE, never an error.

    Running out of memory is not "unreadable": it goes to the pool, which replaces the worker."""
    started = time.perf_counter()
    try:
        page = _ocr_page(job)
    except MemoryError:
        raise
    except Exception:
        page = UNREADABLE
    return replace(page, seconds=time.perf_counter() - started)


def _ocr_page(job: PageJob) -> PageText:
    """Decode one page, skip OCR when blank, retry rotated when unreadable."""
    image = _load_image(job)
    ink = _ink(image)
    if ink < 0.0005:
        return PageText("", None, ink)
    text, confidence = _read(image, job.language, job.timeout_s)
    if confidence is None or confidence < job.retry_below:
        rotated = _rotate_by_osd(image, job.timeout_s)
        if rotated is not None:
            text2, confidence2 = _read(rotated, job.language, job.timeout_s)
            if (confidence2 or 0) > (confidence or 0):
                text, confidence = text2, confidence2
    return PageText(text, round(confidence, 1) if confidence is not None else None, ink)


def _rotate_by_osd(image, timeout_s: float):
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, output_type=pytesseract.Output.DICT, timeout=timeout_s)
    except MemoryError:
        raise
    except Exception:  # too little text to detect orientation, or Tesseract ran out of time
        return None
    angle = int(osd.get("rotate", 0))
    return image.rotate(-angle, expand=True) if angle else None


class OcrPool(SupervisedPool):
    """The classifier's supervised workers; `await pool.read(jobs)` OCRs pages in parallel,
    results in job order (the first page that loses its worker fails the whole read)."""

    def __init__(
        self,
        workers: int,
        memory_bytes: int = 1024 * MiB,
        page_timeout_s: float = 600.0,
        tesseract_timeout_s: float = 120.0,
        tesseract_library: str = tesseract.LIBRARY,
        language: str = "eng",
    ) -> None:
        initializer = functools.partial(init_worker, tesseract_library, language)
        super().__init__("classifier", workers, memory_bytes, initializer=initializer)
        self.page_timeout_s = page_timeout_s
        self.tesseract_timeout_s = tesseract_timeout_s

    async def read(self, jobs: list[PageJob]) -> list[PageText]:
        jobs = [replace(job, timeout_s=self.tesseract_timeout_s) for job in jobs]
        pages = await self.map(ocr_page, jobs, timeout_s=self.page_timeout_s)
        obs.OCR_PAGES.inc(len(pages))
        for page in pages:
            obs.OCR_PAGE_SECONDS.observe(page.seconds)
        return pages
