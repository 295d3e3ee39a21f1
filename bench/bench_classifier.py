"""Classifier: OCR pages per second through its worker pool beside raw `tesseract` on the same
pages with the same number of parallel processes, the CPU of its domain work on a 5 KB email,
and the at-risk filter's texts per second.

The raw baseline runs the `tesseract` command (OMP_THREAD_LIMIT=1) on PNG files, as many at a
time as the pool has workers. The pool also decodes each page, measures its ink and returns
word confidences (TSV output), which is what the classifier needs.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import hashlib
import importlib
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

from bench.letters import LETTERS
from bench.support import table
from mailintake_classifier.adapters.ocr import OcrPool, PageJob
from mailintake_classifier.domain.at_risk import find_at_risk
from mailintake_classifier.domain.classify import ItemText, Section, classify
from tests.classifier.unit.at_risk_cases import NEGATIVES, POSITIVES
from tests.factories import classifier_pages as pages

PAGES = int(os.environ.get("BENCH_OCR_PAGES", "8"))
WORKERS = int(os.environ.get("BENCH_OCR_WORKERS", str(os.cpu_count() or 1)))
DOMAIN = "services/classifier/src/mailintake_classifier/domain"
LINE = "Child support change of circumstances for customer reference 123456789A dated 3 March"


def page_images() -> list[bytes]:
    return [
        pages.png(pages.render([f"{LINE} line {n}" for n in range(12)], pages.FONTS[i % 3], size=(1700, 1000)))
        for i in range(PAGES)
    ]


def raw_tesseract(files: list[Path]) -> tuple[float, float]:
    """Seconds for all pages and CPU ms per page (the commands' own, reaped by this process)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def one(path: Path) -> None:
        subprocess.run(["tesseract", str(path), "-", "--psm", "3"], capture_output=True, check=True, env=env)

    cpu = reaped_cpu_seconds()
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as executor:
        list(executor.map(one, files))
    return time.perf_counter() - started, (reaped_cpu_seconds() - cpu) * 1000 / len(files)


def reaped_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def workers_cpu_seconds() -> float:
    """The CPU of this process's children (the pool's workers) and of what they ran and reaped
    (the `tesseract` commands, when a worker reads through the command)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        with suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


async def through_pool(images: list[bytes]) -> tuple[float, float]:
    """Seconds for all pages and the workers' CPU ms per page (decoding, ink, Tesseract)."""
    pool = OcrPool(WORKERS)
    try:
        # Start every worker outside the timing (one page each, side by side).
        await pool.read([PageJob("image", images[0], 0)] * WORKERS)
        cpu = workers_cpu_seconds()
        started = time.perf_counter()
        results = await pool.read([PageJob("image", image, 0) for image in images])
        elapsed = time.perf_counter() - started
        cpu_ms = (workers_cpu_seconds() - cpu) * 1000 / len(images)
        assert all("customer" in r.text.lower() for r in results)
        return elapsed, cpu_ms
    finally:
        pool.close()


# A customer's long email (about 5 KB), the size the end-to-end goal is set for (issue 18).
EMAIL = """Hello,

Sorry this is a long one but I wanted to put everything in one message so nobody has to ring me
back three times. My name is on the account already and my reference should be 403 992 117 if
that helps you find it.

Since the start of August the kids have been staying with me a lot more than before. Their mum
moved out to her sister's place near the coast for work and it's a two hour drive, so the two of
them are with me Sunday night through to Friday afternoon now and only go down to her on
weekends. Before that it was pretty much half and half. We haven't been to court or anything,
we just sorted it between us, and she is fine with it as far as I know. I think that means the
care numbers you have are out of date.

The other thing is my work. I was on full time at the depot but after the restructure in June
they dropped me to three days, and then in September I picked up a couple of shifts a week at a
warehouse to make up some of the difference. So my income this year is going to be lower than
what you have from last year's tax return, probably by about fifteen thousand. I've got the
letter from the depot about the hours and my last four payslips from both jobs, I can scan them
and send them through if you tell me where. Is there a form I need to fill in for an estimate,
or can I just tell you the number?

I also want to check the payments going out of my pay. The depot's payroll is still taking the
old amount each fortnight. If the care and income change goes through, will you send them a new
notice, or do I have to ask them to change it myself? I don't want it to go on taking too much
and then have to chase a refund, money is already pretty tight with petrol and the school stuff.

Can you also tell me what happens to the amount I've already paid since August? If the kids
were with me most of the time since then, does that get worked out back to then, or only from
when I tell you? I did try to call last week but I was on hold for forty minutes and had to go
back to work.

My address is the same. My mobile is 0412 345 678 and the best time to reach me is after 4pm,
or you can just email me back here. I'd rather get things in writing anyway so I can keep track.

One more question. The younger one starts high school next year and there will be uniforms and a
laptop and all that. Is there anything in the assessment that covers that, or is that just
something we sort out between us? Her mum and I get on alright these days so it shouldn't be a
fight, I just want to know what's expected.

Thanks for your help, and sorry again for the essay.

Regards,
Daniel
"""


def email_item() -> ItemText:
    body = (EMAIL + "\n\n" + EMAIL)[:5000]
    return ItemText("email", sections=[Section("subject", "Change in care and income"), Section("body 1", body)])


def classify_cpu_ms(rounds: int = 100) -> float:
    """CPU milliseconds of the classifier's domain work (classify()) on the 5 KB email."""
    item = email_item()
    classify(item)  # the at-risk model is trained on first use: not part of the figure
    started = time.process_time()
    for _ in range(rounds):
        classify(item)
    return (time.process_time() - started) * 1000 / rounds


def pipeline_items(count: int = 1) -> dict[str, list[ItemText]]:
    """The documents the pipeline bench posts (5 KB letters after a unique line), as the
    classifier reads them: the two ordinary letters as an e-mail and as a web form, and the
    alerting one (`BENCH_E2E_ALERTING=1`); `count` of each, each with its own first line, as in
    the pipeline (the at-risk model remembers the last text it read: a repeated text is cheaper)."""
    items: dict[str, list[ItemText]] = {}
    for name, text in (("letter 1", LETTERS[0]), ("letter 2", LETTERS[1]), ("alerting", EMAIL)):
        letter = (text * (5000 // len(text) + 1))[:5000]
        for n in range(count):
            body = hashlib.sha256(f"{name} {n}".encode()).hexdigest()[:32] + "\n\n" + letter
            items.setdefault(f"{name}, e-mail", []).append(
                ItemText("email", sections=[Section("subject", "Change of address"), Section("body 1", body)])
            )
            items.setdefault(f"{name}, web form", []).append(
                ItemText("webform", "contact_us", sections=[Section("webform, field message", f"message: {body}")])
            )
    return items


def baseline_classify(ref: str) -> Callable[[ItemText], object]:
    """`classify()` as the classifier's domain package is at git `ref`, imported beside this
    checkout's (its modules renamed), for old-and-new comparisons in one process."""
    root = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "rev-parse", ref], cwd=root, capture_output=True, text=True, check=True)
    name = f"baseline_{commit.stdout.strip()[:12]}"
    folder = Path(tempfile.mkdtemp(prefix="classify-ab-"))
    atexit.register(shutil.rmtree, folder, True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, DOMAIN], cwd=root, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    package = folder / name
    (folder / DOMAIN).rename(package)
    for path in package.rglob("*.py"):
        path.write_text(path.read_text().replace("mailintake_classifier.domain", name))
    (folder / name / "__init__.py").touch()
    sys.path.insert(0, str(folder))
    module = importlib.import_module(f"{name}.classify")
    old = module.classify

    def run(item: ItemText) -> object:
        return old(module.ItemText(**{f.name: getattr(item, f.name) for f in dataclasses.fields(item)}))

    return run


def ab(ref: str = "main", rounds: int = 5, repeats: int = 20) -> None:
    """CPU ms per `classify()` of each pipeline item, `ref`'s code and this checkout's alternated
    (`rounds` turns of `repeats` distinct documents each; medians), so load from others falls on
    both alike."""
    old = baseline_classify(ref)
    items = pipeline_items(repeats)
    timings: dict[tuple[str, str], list[float]] = {}
    for name, documents in items.items():
        old(documents[0]), classify(documents[0])  # train the models, warm the caches
        for _ in range(rounds):
            for label, run in (("old", old), ("new", classify)):
                started = time.process_time()
                for document in documents:
                    run(document)
                timings.setdefault((name, label), []).append((time.process_time() - started) * 1000 / repeats)
    rows = []
    for name in items:
        before, after = statistics.median(timings[(name, "old")]), statistics.median(timings[(name, "new")])
        rows.append((name, f"{after:.2f}", f"{before:.2f} ({ref})", f"{after / before:.2f}"))
    ordinary = [n for n in items if not n.startswith("alerting")]
    mean = [statistics.mean(statistics.median(timings[(n, lb)]) for n in ordinary) for lb in ("old", "new")]
    rows.append(("ordinary letters, mean", f"{mean[1]:.2f}", f"{mean[0]:.2f} ({ref})", f"{mean[1] / mean[0]:.2f}"))
    table(f"classify(): CPU ms per document, {ref} against this checkout ({rounds} rounds, medians)", rows)


def main() -> None:
    if sys.argv[1:2] == ["ab"]:  # python -m bench.bench_classifier ab [REF]
        ab(sys.argv[2]) if len(sys.argv) > 2 else ab()
        return
    classify_ms = classify_cpu_ms()
    images = page_images()
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            path = Path(tmp, f"page{i}.png")
            path.write_bytes(image)
            files.append(path)
        raw_tesseract(files[:1])  # warm the page cache
        raw_s, raw_cpu_ms = raw_tesseract(files)
    pool_s, pool_cpu_ms = asyncio.run(through_pool(images))
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
                "OCR CPU ms per page (the workers, with Tesseract)",
                f"{pool_cpu_ms:.0f}",
                f"{raw_cpu_ms:.0f} raw tesseract",
                f"{raw_cpu_ms / pool_cpu_ms:.2f}",
            ),
            (
                "classify(): CPU ms per 5 KB email",
                f"{classify_ms:.1f}",
                f"{2 * 1000 / 200:g} in all (200/s on 2 cores)",
                f"{classify_ms / (2 * 1000 / 200):.2f}",
            ),
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
