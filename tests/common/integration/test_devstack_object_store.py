"""The test object store starts even when a port it was given is taken before it binds it.

CI once saw SeaweedFS exit before listening (every S3 pipeline test then errored with no
clue why). Its ports now come from below the kernel's ephemeral range, a start that dies
early is tried again on new ports, and a start that keeps dying says what the server logged.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

import mailintake_common.devstack as devstack
from mailintake_common.devstack import SeaweedS3, quiet_port


def test_a_quiet_port_is_free_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    port = quiet_port()
    assert port < low
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_start_whose_port_was_taken_meanwhile_is_tried_again_on_new_ports(
    tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = iter([taken])  # the master's port, as if another process took it after we chose it
    real = devstack.quiet_port
    monkeypatch.setattr(devstack, "quiet_port", lambda: next(handed, None) or real())
    server = SeaweedS3(tmp_path / "s3", "a" * 20, "b" * 40, port=real())
    try:
        server.start(timeout_s=30)
        assert server.proc is not None and server.proc.poll() is None
        assert f"-master.port={taken}" not in server.proc.args  # type: ignore[operator]
    finally:
        server.stop()
    assert not [name for name in server._sockets if Path(f"/tmp/seaweedfs-{name}.sock").exists()]


def test_a_start_that_keeps_dying_says_what_the_server_logged(
    tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SeaweedS3(tmp_path / "s3", "a" * 20, "b" * 40, port=quiet_port())
    monkeypatch.setattr(devstack, "quiet_port", lambda: taken)  # every inner port it is given is taken
    with pytest.raises(RuntimeError, match=r"(?s)before listening.*weed\.log.*\S"):
        server.start(timeout_s=30, attempts=1)
    assert server.proc is not None and server.proc.poll() is not None
