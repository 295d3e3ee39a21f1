"""Classifier: OCR pages per second through its worker pool beside raw `tesseract` on the same
pages with the same number of parallel processes, and the at-risk filter's texts per second.

The raw baseline runs the `tesseract` command (OMP_THREAD_LIMIT=1) on PNG files, as many at a
time as the pool has workers. The pool also decodes each page, measures its ink and returns
word confidences (TSV output), which is what the classifier needs.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.support import table
from mailintake_classifier.adapters.ocr import OcrPool, PageJob
from mailintake_classifier.domain.at_risk import find_at_risk
from tests.classifier.unit.at_risk_cases import NEGATIVES, POSITIVES
from tests.factories import classifier_pages as pages

PAGES = int(os.environ.get("BENCH_OCR_PAGES", "8"))
WORKERS = int(os.environ.get("BENCH_OCR_WORKERS", str(os.cpu_count() or 1)))
LINE = "Child support change of circumstances for customer reference 123456789A dated 3 March"


def page_images() -> list[bytes]:
    return [
        pages.png(pages.render([f"{LINE} line {n}" for n in range(12)], pages.FONTS[i % 3], size=(1700, 1000)))
        for i in range(PAGES)
    ]


def raw_tesseract(files: list[Path]) -> float:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> None:
        subprocess.run(["tesseract", str(path), "-", "--psm", "3"], capture_output=True, check=True, env=env)

    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as executor:
        list(executor.map(one, files))
    return time.perf_counter() - started


async def through_pool(images: list[bytes]) -> float:
    pool = OcrPool(WORKERS)
    try:
        await pool.read([PageJob("image", images[0], 0)])  # start the workers outside the timing
        started = time.perf_counter()
        results = await pool.read([PageJob("image", image, 0) for image in images])
        elapsed = time.perf_counter() - started
        assert all("customer" in r.text.lower() for r in results)
        return elapsed
    finally:
        pool.close()


def main() -> None:
    images = page_images()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            path = Path(tmp, f"page{i}.png")
            path.write_bytes(image)
            files.append(path)
        raw_tesseract(files[:1])  # warm the page cache
        raw_s = raw_tesseract(files)
    pool_s = asyncio.run(through_pool(images))
    texts = [t for _, t, _ in POSITIVES] + [t for _, t in NEGATIVES]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for text in texts:
            find_at_risk(text)
    filter_rate = rounds * len(texts) / (time.perf_counter() - started)
    long_text = " ".join(texts) * 5
    started = time.perf_counter()
    find_at_risk(long_text)
    long_s = time.perf_counter() - started
    table(
        f"classifier OCR, {PAGES} pages of 12 lines (1700x1000 px), {WORKERS} worker process(es)",
        [
            ("OCR pages/s", f"{PAGES / pool_s:.2f}", f"{PAGES / raw_s:.2f} raw tesseract", f"{raw_s / pool_s:.2f}"),
            (
                "at-risk texts/s",
                f"{filter_rate:.0f}",
                f"{len(long_text) / long_s / 1000:.0f}k chars/s on one long text",
                "-",
            ),
        ],
    )


if __name__ == "__main__":
    main()
