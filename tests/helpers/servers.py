"""Real servers for tests: ``mlflow server``, an S3 API (moto's server mode) and PostgreSQL.

Why real servers and not mocks: the code under test talks to them from several processes (CLI
subprocesses, tune workers, the dashboard) and through their real clients (MLflow's REST client,
s3fs/aiobotocore, Optuna's row locking on PostgreSQL). Each listens on a free loopback port; the
session fixtures in ``tests/conftest.py`` start one per session, on first use.

The mlflow, S3 and dashboard servers share one shape (:class:`ServerProcess`: a process in a
session of its own, polled over HTTP until it answers, killed as a group); PostgreSQL is driven by
its own ``pg_ctl``, which waits and stops by itself.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Dict, List, Optional


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A server process on 127.0.0.1: :meth:`start` waits until ``health_path`` answers over HTTP
    (any status: a server asking for a login is up), :meth:`stop` kills its whole process group (a
    server's workers die with it). Subclasses give the :meth:`command` and, if it needs more than
    the inherited one, the environment. Output goes to ``log``, quoted when it does not start."""

    health_path = "/"
    start_timeout_s = 90.0

    def __init__(self, log: Path, cwd: Optional[Path] = None) -> None:
        self.log = log
        self.cwd = cwd
        self.port = 0
        self.proc: Optional[subprocess.Popen[bytes]] = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> List[str]:
        raise NotImplementedError

    def environment(self) -> Dict[str, str]:
        return dict(os.environ)

    def start(self, port: int = 0) -> ServerProcess:
        """Start on ``port`` (a free one by default: a restart then gets a new one)."""
        self.port = port or free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=self.environment(),
                cwd=self.cwd,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            try:
                urllib.request.urlopen(self.uri + self.health_path, timeout=2).close()
                return self
            except urllib.error.HTTPError:
                return self  # it answered
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"{type(self).__name__} did not start: {self.log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


class MlflowServer(ServerProcess):
    """``mlflow server`` with a SQLite backend and a local artifact root under ``root``; both survive
    a stop, so a test can kill the server and start it again on the same data."""

    health_path = "/health"

    def __init__(self, root: Path) -> None:
        super().__init__(root / "server.log")
        self.root = root

    def command(self) -> List[str]:
        return [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}"),
            *("--default-artifact-root", str(self.root / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
        ]

    def environment(self) -> Dict[str, str]:
        return {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class S3Server(ServerProcess):
    """moto's S3 server; :meth:`bucket` makes a fresh bucket, ``env`` is what a client process needs:
    the AWS chain pointed at this server with throwaway credentials, so no test reaches an account."""

    start_timeout_s = 60.0

    def __init__(self, log: Path) -> None:
        super().__init__(log)
        self.port = free_port()
        self.env: Dict[str, str] = {
            "AWS_ENDPOINT_URL": self.uri,
            "AWS_ACCESS_KEY_ID": "AKIATEST" + secrets.token_hex(6).upper(),
            "AWS_SECRET_ACCESS_KEY": "testsecret" + secrets.token_hex(12),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_CONFIG_FILE": os.devnull,
        }

    def start(self, port: int = 0) -> S3Server:
        super().start(port or self.port)  # the port ``env`` already names
        return self

    def command(self) -> List[str]:
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.uri,
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def bucket(self) -> str:
        name = f"verifily-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name


class DashboardServer(ServerProcess):
    """``verifily dashboard`` on ``runs`` (a folder or a bucket URL) with ``flags`` added."""

    start_timeout_s = 120.0

    def __init__(self, runs: str, log: Path, *flags: str, cwd: Optional[Path] = None) -> None:
        super().__init__(log, cwd)
        self.runs = runs
        self.flags = flags

    def command(self) -> List[str]:
        return [
            *(sys.executable, "-m", "verifily_train", "dashboard"),
            *("--runs-dir", self.runs, "--port", str(self.port), *self.flags),
        ]


POSTGRES_USER = "tuner"


def postgres_bin() -> Optional[Path]:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``, if any
    (Debian's binaries; ``scripts/ensure_test_packages.sh`` installs them)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")]
    found = [b for b in found if (b / "initdb").is_file()]
    return max(found, key=lambda b: int(b.parent.name) if b.parent.name.isdigit() else 0, default=None)


class PostgresServer:
    """A throwaway PostgreSQL: ``initdb`` + ``pg_ctl`` in a temp folder, trust authentication,
    ``fsync=off`` (a test database needs no durability). PostgreSQL refuses to run as root, so under
    root it runs as the ``postgres`` user of the Debian package (through ``runuser``).
    :meth:`database` gives each test a database of its own; :meth:`stop` removes everything."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        # not under pytest's tmp folder: that one is private to root, and the server may run as postgres
        self.home = Path(tempfile.mkdtemp(prefix="verifily-pg-"))
        self.port = free_port()
        self.run_as: List[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.home, user="postgres")
            # runuser lives in /usr/sbin, which a minimal CI PATH (env -i PATH=/usr/bin:/bin) leaves out
            runuser = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"
            self.run_as = [runuser, "-u", "postgres", "--"]

    def _pg(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.run_as, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout)[-2000:]}")

    def start(self) -> PostgresServer:
        data = str(self.home / "data")
        self._pg("initdb", "-D", data, "-U", POSTGRES_USER, "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.home / "server.log")
        self._pg("pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

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
