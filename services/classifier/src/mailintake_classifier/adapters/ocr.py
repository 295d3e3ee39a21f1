"""OCR in a pool of worker processes: one page per task, `OMP_THREAD_LIMIT=1` in each worker.

Tesseract runs fastest single-threaded with one process per core (measured here: ~7 s for a
dense A4 page at 300 dpi single-threaded, 15-17 s with its own threading), so the pool is as
wide as the machine and the event loop only awaits results. Workers decode images and render
PDF pages themselves, so large pixels never cross the process boundary.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import subprocess
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageJob:
    kind: str  # "image" (one frame of an image file) or "pdf" (one page of a PDF)
    content: bytes
    index: int  # frame or page number, 0-based
    language: str = "eng"
    dpi: int = 200
    retry_below: float = 45.0


@dataclass(frozen=True)
class PageText:
    text: str
    confidence: float | None
    ink: float


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    from PIL import Image

    # Quarantine already refused images declaring more than its pixel limit (100 Mpx by default).
    Image.MAX_IMAGE_PIXELS = 100_000_000


def _load_image(job: PageJob):
    from PIL import Image, ImageOps

    if job.kind == "pdf":
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp, "in.pdf")
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
                timeout=120,
            )
            image = Image.open(Path(tmp, "page.png"))
            image.load()
            return image
    image = Image.open(io.BytesIO(job.content))
    image.seek(job.index)
    return ImageOps.exif_transpose(image.convert("L"))


def _ink(image) -> float:
    histogram = image.convert("L").histogram()
    total = sum(histogram) or 1
    return sum(histogram[:128]) / total


def _read(image, language: str) -> tuple[str, float | None]:
    import pytesseract

    data = pytesseract.image_to_data(image, lang=language, config="--psm 3", output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if word.strip() and conf >= 0:
            lines.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(word)
            confidences.append(conf)
    text = "\n".join(" ".join(words) for _, words in sorted(lines.items()))
    return text, (sum(confidences) / len(confidences) if confidences else None)


UNREADABLE = PageText("", 0.0, 1.0)  # a page that could not be decoded: confidence 0, so it is reviewed


def ocr_page(job: PageJob) -> PageText:
    """Runs in a worker: one page; a page that cannot be decoded or read is UNREADABLE, never an error."""
    try:
        return _ocr_page(job)
    except Exception:
        return UNREADABLE


def _ocr_page(job: PageJob) -> PageText:
    """Decode one page, skip OCR when blank, retry rotated when unreadable."""
    image = _load_image(job)
    ink = _ink(image)
    if ink < 0.0005:
        return PageText("", None, ink)
    text, confidence = _read(image, job.language)
    if confidence is None or confidence < job.retry_below:
        rotated = _rotate_by_osd(image)
        if rotated is not None:
            text2, confidence2 = _read(rotated, job.language)
            if (confidence2 or 0) > (confidence or 0):
                text, confidence = text2, confidence2
    return PageText(text, round(confidence, 1) if confidence is not None else None, ink)


def _rotate_by_osd(image):
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, output_type=pytesseract.Output.DICT)
    except Exception:  # too little text to detect orientation
        return None
    angle = int(osd.get("rotate", 0))
    return image.rotate(-angle, expand=True) if angle else None


class OcrPool:
    """The process pool; `await pool.read(jobs)` OCRs pages in parallel, results in job order."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker)
        return self._executor

    async def read(self, jobs: list[PageJob]) -> list[PageText]:
        loop = asyncio.get_running_loop()
        pool = self._pool()
        return list(await asyncio.gather(*(loop.run_in_executor(pool, ocr_page, job) for job in jobs)))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
