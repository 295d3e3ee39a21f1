"""The PostgreSQL the project starts (devstack.py, issue 18 session 9): a server that keeps its
data (`make run`) keeps every durability guarantee and the WAL settings docs/operations.md
recommends; the tests' throwaway server is the fast one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mailintake_common.devstack import Postgres, free_port, pg_bin, wal_compression_method

SHOWN = ("fsync", "full_page_writes", "synchronous_commit", "wal_compression", "checkpoint_timeout", "max_wal_size")


def shown(pg: Postgres) -> dict[str, str]:
    psql = [str(pg_bin() / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "mailintake", "-d", "mailintake"]
    return {
        name: subprocess.run([*psql, "-Atc", f"SHOW {name}"], capture_output=True, check=True, text=True).stdout.strip()
        for name in SHOWN
    }


def test_a_server_that_keeps_its_data_is_durable_and_compresses_full_page_images(tmp_path: Path) -> None:
    pg = Postgres(tmp_path / "pg", free_port())
    pg.start()
    try:
        settings = shown(pg)
    finally:
        pg.stop()
    assert settings == {
        "fsync": "on",
        "full_page_writes": "on",
        "synchronous_commit": "on",
        "wal_compression": wal_compression_method(pg_bin()),
        "checkpoint_timeout": "15min",
        "max_wal_size": "2GB",
    }
    assert settings["wal_compression"] in ("lz4", "pglz")


def test_the_tests_server_is_the_fast_one_with_synchronous_commits(tmp_path: Path) -> None:
    pg = Postgres(tmp_path / "pg", free_port(), fast=True)
    pg.start()
    try:
        settings = shown(pg)
    finally:
        pg.stop()
    assert (settings["fsync"], settings["full_page_writes"], settings["synchronous_commit"]) == ("off", "off", "on")


def test_full_page_images_are_compressed_with_pglz_where_the_server_has_no_lz4(tmp_path: Path) -> None:
    assert wal_compression_method(tmp_path) == "pglz"  # no pg_config there to say it has lz4
    if b"--with-lz4" in subprocess.run([str(pg_bin() / "pg_config"), "--configure"], capture_output=True).stdout:
        assert wal_compression_method(pg_bin()) == "lz4"
