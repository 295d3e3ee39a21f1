"""Tesseract's engine kept in an OCR worker (issue 18): loaded once as the worker starts.

Each `tesseract` command loads the engine and the language's traineddata anew (about 70 ms of CPU
here on a tiny page). An OCR worker lives for many pages, so it keeps one engine per language,
from the machine's own libtesseract (the library the command itself runs on, so the same words
and confidences), through its C API with ctypes.

What it takes to read a page exactly as `tesseract page.pgm out -l LANG --psm 3` with TSV output
(what pytesseract ran): the same default tessdata (no data path, so `TESSDATA_PREFIX` counts as
for the command), `--psm 3` (PSM_AUTO), the same PGM (PPM for RGB pages) decoded by the same
Leptonica reader (so no resolution either way: Tesseract estimates it), and the TSV text of page 0
(the command's first page). Tesseract's own messages ("Estimating resolution as ...") go to /dev/null (`debug_file`),
not into the service's log, as the command's stderr never did.

Limits: the worker's RLIMIT_AS binds the engine in-process (running out of memory aborts the
worker, which the pool replaces). Each run has a deadline (Tesseract's monitor, checked between
words, like the command's subprocess timeout: the page is then unreadable); a run stuck before
its words (layout analysis) is ended by the pool's page timeout, which kills the worker.

When the library cannot be loaded (a machine without libtesseract.so.5) or a language cannot be
initialised, `engine_for` returns None and the caller runs the `tesseract` command as before;
the first is logged once per worker, without content.
"""

from __future__ import annotations

import ctypes
import io
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

LIBRARY = "libtesseract.so.5"  # the library the `tesseract` command of Tesseract 5 runs on
PSM_AUTO = 3  # `--psm 3`
# Pillow modes written as the command was given them: a PGM (grey pages) or a PPM (PDF pages, which
# pdftoppm writes as RGB; Tesseract greys them itself). Other modes go to the command.
MODES = ("L", "RGB")


class TesseractFailed(Exception):
    """The engine could not read the page (ran past its deadline, or failed): the page is unreadable."""


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, c, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[list[Any], Any]] = {
        "TessVersion": ([], c),  # bound so that a library without Tesseract's C API is refused at start
        "TessBaseAPICreate": ([], p),
        "TessBaseAPIDelete": ([p], None),
        "TessBaseAPIInit3": ([p, c, c], i),
        "TessBaseAPISetVariable": ([p, c, c], i),
        "TessBaseAPISetPageSegMode": ([p, i], None),
        "TessBaseAPISetImage2": ([p, p], None),
        "TessBaseAPIRecognize": ([p, p], i),
        "TessBaseAPIGetTsvText": ([p, i], p),
        "TessBaseAPIClear": ([p], None),
        "TessBaseAPIEnd": ([p], None),
        "TessDeleteText": ([p], None),
        "TessMonitorCreate": ([], p),
        "TessMonitorDelete": ([p], None),
        "TessMonitorSetDeadlineMSecs": ([p, i], None),
        # Leptonica, libtesseract's own dependency (found through its handle): the command's image reader
        "pixReadMem": ([c, ctypes.c_size_t], p),
        "pixDestroy": ([ctypes.POINTER(p)], None),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
    return lib


class Engine:
    """One initialised TessBaseAPI for one language string (e.g. "eng", "eng+fra")."""

    def __init__(self, lib: ctypes.CDLL, language: str) -> None:
        self._lib = lib
        self.language = language
        self._api = lib.TessBaseAPICreate()
        lib.TessBaseAPISetVariable(self._api, b"debug_file", b"/dev/null")  # before Init: its messages too
        if lib.TessBaseAPIInit3(self._api, None, language.encode()) != 0:
            lib.TessBaseAPIDelete(self._api)
            raise TesseractFailed("the language could not be initialised")
        lib.TessBaseAPISetPageSegMode(self._api, PSM_AUTO)
        self._monitor = lib.TessMonitorCreate()

    def tsv(self, image: Any, timeout_s: float) -> str:
        """Tesseract's TSV rows (no header line) for a Pillow image in one of `MODES`."""
        buffer = io.BytesIO()
        image.save(buffer, format="PPM")
        return self.read(buffer.getvalue(), timeout_s)

    def read(self, pnm: bytes, timeout_s: float) -> str:
        """Tesseract's TSV rows for a PGM or PPM file's bytes, decoded by Leptonica as the command
        decodes the file it is given (a decoding that runs out of memory: unreadable, not a crash)."""
        lib = self._lib
        pix = ctypes.c_void_p(lib.pixReadMem(pnm, len(pnm)))
        if not pix:
            raise TesseractFailed("the page could not be decoded")
        try:
            lib.TessBaseAPISetImage2(self._api, pix)
            lib.TessMonitorSetDeadlineMSecs(self._monitor, max(1, int(timeout_s * 1000)))
            if lib.TessBaseAPIRecognize(self._api, self._monitor) != 0:
                raise TesseractFailed("the page was not read (deadline or failure)")
            text = lib.TessBaseAPIGetTsvText(self._api, 0)
            if not text:
                raise TesseractFailed("no TSV text")
            try:
                return ctypes.string_at(text).decode("utf-8", errors="replace")
            finally:
                lib.TessDeleteText(text)
        finally:
            lib.TessBaseAPIClear(self._api)
            lib.pixDestroy(ctypes.byref(pix))

    def close(self) -> None:
        self._lib.TessMonitorDelete(self._monitor)
        self._lib.TessBaseAPIEnd(self._api)
        self._lib.TessBaseAPIDelete(self._api)


@dataclass
class _Loaded:
    """This process's library and engines (a worker's, for its life)."""

    lib: ctypes.CDLL | None = None
    engines: dict[str, Engine | None] = field(default_factory=dict)  # None: the language did not initialise


_State = _Loaded()


def start(library: str, language: str) -> None:
    """In the worker's initializer: load the library and `language`'s engine now, not in the
    first page's time. A library that cannot be loaded is logged once; pages then use the command."""
    close()
    if not library:
        return
    try:
        _State.lib = _bind(ctypes.CDLL(library))
    except (OSError, AttributeError) as exc:
        log.warning(
            "tesseract library not loaded: each page runs the tesseract command",
            extra={"stage": "classifier", "error": type(exc).__name__},
        )
        return
    engine_for(language)


def engine_for(language: str) -> Engine | None:
    """This worker's engine for `language`, made on first use; None: use the command."""
    if _State.lib is None:
        return None
    if language not in _State.engines:
        try:
            _State.engines[language] = Engine(_State.lib, language)
        except TesseractFailed:
            _State.engines[language] = None  # the command will fail the same way: the page is unreadable
    return _State.engines[language]


def loaded() -> list[str]:
    """The languages whose engine this process holds (a task for tests: what a worker loaded at start)."""
    return sorted(language for language, engine in _State.engines.items() if engine is not None)


def close() -> None:
    for engine in _State.engines.values():
        if engine is not None:
            engine.close()
    _State.engines.clear()
    _State.lib = None
