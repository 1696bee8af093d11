"""A throwaway PostgreSQL server for tests, from Debian's binaries (``scripts/ensure_postgres.sh``).

Why not a mock: the point of ``tune --storage postgresql://`` is how Optuna's row locking behaves on
a real server with several worker processes. ``initdb`` + ``pg_ctl`` in a temp folder, on a free
loopback port, trust authentication, ``fsync=off`` (a test database needs no durability). PostgreSQL
refuses to run as root, so under root the server runs as the ``postgres`` user that the Debian
package creates (through ``runuser``). Each test gets a database of its own (:meth:`Server.database`).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import List, Optional

USER = "tuner"


def server_bin() -> Optional[Path]:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``, if any."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found = [b for b in found if (b / "initdb").is_file()]
    return max(found, key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0, default=None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``start()`` a server; ``database()`` a fresh database URL; ``stop()`` removes everything."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # not under pytest's tmp folder: that one is private to root, and the server may run as postgres
        self.home = Path(tempfile.mkdtemp(prefix="verifily-pg-"))
        self.port = _free_port()
        self.run_as: List[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.home, user="postgres")
            self.run_as = ["runuser", "-u", "postgres", "--"]

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.run_as, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")

    def start(self) -> Server:
        data = str(self.home / "data")
        self._pg("initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(
            "pg_ctl",
            "-D",
            data,
            "-l",
            str(self.home / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database on the server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._pg("pg_ctl", "-D", str(self.home / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.home, ignore_errors=True)
