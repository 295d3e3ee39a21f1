"""Large parts reach worker processes as private temporary files, never whole in a service (issue 17).

Quarantine and the classifier open parts only in supervised worker processes
(`mailintake_common.workers`). A part up to `MAILINTAKE_PART_SPOOL_BYTES` crosses to a worker as
bytes; a larger one is streamed from the blob store a chunk at a time into a file of the item's
own spool and the worker gets its path: the classifier's workers open it with pypdf and Pillow
and hand it to pdftoppm, quarantine's read it into their own (limited) memory to screen it. A
worker hands a large result back the same way (`SpoolPlan.keep`).

A spool is a directory of its own (mode 0700, files 0600) under `MAILINTAKE_PART_SPOOL_DIR`,
named for one item (randomly) and made only when a first large part needs it; it is removed
with everything in it when the `async with` ends, however it ends: a failure, a cancellation,
a worker killed mid-part. Only a service killed outright can leave one behind; `sweep_spools`
removes those of processes that are gone.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailintake_common.events import BlobRef
from mailintake_common.settings import CommonSettings

if TYPE_CHECKING:  # a worker process imports this module: not the database and S3 clients (issue 18)
    from mailintake_common.blobs import BlobReader

PREFIX = "mailintake-parts-"
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


@dataclass(frozen=True)
class PartContent:
    """A part's content on its way to or from a worker: the bytes when small, else a file's path."""

    size: int
    data: bytes | None = None
    path: str | None = None

    @classmethod
    def of(cls, data: bytes) -> PartContent:
        return cls(len(data), data=data)

    def read(self) -> bytes:
        """The whole content (in a worker, under its memory limit)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        with open(self.path, "rb") as file:
            return file.read()


@dataclass(frozen=True)
class SpoolPlan:
    """What a worker needs to hand large content back: the spool's directory and the threshold."""

    directory: str  # made by whichever side first needs it
    threshold: int

    def keep(self, data: bytes, name: str) -> PartContent:
        """`data` as it should cross back to the service: in a file of the spool when large."""
        if len(data) <= self.threshold:
            return PartContent.of(data)
        path = self.new_file(name)
        with os.fdopen(os.open(path, _FILE_FLAGS, 0o600), "wb") as file:
            file.write(data)
        return PartContent(len(data), path=path)

    def new_file(self, name: str) -> str:
        """The path of a file that does not exist yet in the spool (made private first)."""
        _private_directory(self.directory)
        return os.path.join(self.directory, name)


def _private_directory(path: str) -> None:
    """Make `path` (mode 0700) and its parent if missing, or check that the one there is this
    user's own and private."""
    try:
        try:
            os.mkdir(path, 0o700)
        except FileNotFoundError:  # the configured root is not there (yet, or cleaned away)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        return
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError("a spool directory exists and is not private to this service")


class Spool:
    """One item's temporary files; see `spool()`."""

    def __init__(self, directory: str, threshold: int) -> None:
        self.plan = SpoolPlan(directory, threshold)
        self._count = 0

    @property
    def directory(self) -> str:
        return self.plan.directory

    async def fetch(self, store: BlobReader, ref: BlobRef) -> PartContent:
        """The blob's content: as bytes when small, else streamed into a new file of the spool."""
        if ref.size <= self.plan.threshold:
            return PartContent.of(await store.get(ref))
        self._count += 1
        path = self.plan.new_file(f"part-{self._count}")
        size = 0
        with os.fdopen(os.open(path, _FILE_FLAGS, 0o600), "wb") as file:
            async for chunk in store.stream(ref):
                file.write(chunk)  # a chunk (MAILINTAKE_BLOB_CHUNK_BYTES) to the page cache: no need for a thread
                size += len(chunk)
        return PartContent(size, path=path)


def spool_root(settings: CommonSettings) -> Path:
    """Where spools are made: the configured directory, else the system's temporary directory."""
    return Path(settings.part_spool_dir or tempfile.gettempdir())


@asynccontextmanager
async def spool(settings: CommonSettings) -> AsyncIterator[Spool]:
    """A fresh private spool for one item, removed with its files when the block ends."""
    directory = os.path.join(spool_root(settings), f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex}")  # made when needed
    try:
        yield Spool(directory, settings.part_spool_bytes)
    finally:
        if os.path.lexists(directory):  # most items (an email, a form) never needed one
            shutil.rmtree(directory, ignore_errors=True)


def sweep_spools(settings: CommonSettings) -> int:
    """Remove spools left by processes of this machine that are gone (a service killed outright);
    returns how many. A spool's name carries its process id; a live process's are left alone."""
    root = spool_root(settings)
    removed = 0
    for entry in root.glob(f"{PREFIX}*") if root.is_dir() else ():
        pid = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)) or entry.is_symlink() or not entry.is_dir():
            continue
        if entry.stat().st_uid != os.getuid():  # another user's: not ours to judge
            continue
        with suppress(OSError):
            shutil.rmtree(entry)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
