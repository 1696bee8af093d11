"""Security suite, dashboard: ``--share`` needs ``--auth``, uploads are refused, and repeated failed
logins are throttled per client (on the auth callable, then once over real HTTP)."""

from __future__ import annotations

import http.client
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
from helpers.servers import DashboardServer
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_cli.dashboard.login import CLIENT, FREE_ATTEMPTS, MAX_LOCKOUT_SECONDS, ThrottledLogin


def test_share_without_auth_exits_2_before_serving(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dashboard", "--runs-dir", str(tmp_path), "--share"], env={})
    assert result.exit_code == 2 and "Refusing --share without --auth" in result.output


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_logins_lock_the_client_out_with_doubling_lockouts() -> None:
    clock = Clock()
    check = ThrottledLogin(("admin", "s3cret"), clock=clock)
    CLIENT.set("10.0.0.7")
    for _ in range(FREE_ATTEMPTS - 1):
        assert check("admin", "guess") is False
        assert check.locked_for("10.0.0.7") == 0  # the first failures cost nothing
    assert check("admin", "guess") is False
    assert check.locked_for("10.0.0.7") == 1.0
    assert check("admin", "s3cret") is False  # locked: even the right password is not compared
    clock.now += 1.0
    assert check("admin", "wrong again") is False and check.locked_for("10.0.0.7") == 2.0
    clock.now += 2.0
    assert check("admin", "s3cret") is True and check.locked_for("10.0.0.7") == 0
    CLIENT.set("10.0.0.8")  # another client is not affected by the first one's failures
    assert check("admin", "s3cret") is True


def test_lockout_is_capped() -> None:
    clock = Clock()
    check = ThrottledLogin(("admin", "s3cret"), clock=clock)
    CLIENT.set("10.0.0.9")
    for _ in range(40):
        check("admin", "guess")
        clock.now += check.locked_for("10.0.0.9")
    assert check("admin", "guess") is False and check.locked_for("10.0.0.9") == MAX_LOCKOUT_SECONDS


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[int, subprocess.Popen[bytes]]]:
    pytest.importorskip("gradio")
    runs = tmp_path_factory.mktemp("runs")
    flags = ("--auth", "admin:s3cret", "--no-browser")
    dashboard = DashboardServer(str(runs), runs.parent / "dashboard.log", *flags).start()
    assert dashboard.proc is not None
    yield dashboard.port, dashboard.proc
    dashboard.stop()


def _status(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def _login(port: int, password: str) -> Tuple[int, List[str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = urllib.parse.urlencode({"username": "admin", "password": password})
        conn.request(
            "POST", "/login", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        response = conn.getresponse()
        response.read()
        return response.status, response.headers.get_all("set-cookie") or []
    finally:
        conn.close()


def _upload(port: int, cookies: List[str]) -> int | None:
    boundary = "verifilyboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="x.bin"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n{'A' * 4096}\r\n--{boundary}--\r\n"
    ).encode()
    cookie = "; ".join(c.split(";", 1)[0] for c in cookies)
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Cookie": cookie}
    return _status(port, "POST", "/gradio_api/upload", body, headers)


@pytest.mark.timeout(180)
def test_over_http_uploads_are_refused_and_guessing_is_locked_out(
    server: Tuple[int, subprocess.Popen[bytes]],
) -> None:
    port, _proc = server
    assert _upload(port, []) == 401  # anonymous: not even looked at
    status, cookies = _login(port, "s3cret")
    assert status == 200 and cookies
    assert _upload(port, cookies) == 413  # logged in: still no uploads, the size limit is zero
    assert [_login(port, f"guess{i}")[0] for i in range(FREE_ATTEMPTS)] == [400] * FREE_ATTEMPTS
    assert _login(port, "s3cret")[0] == 400  # locked out: the right password is refused for now
    time.sleep(1.2)
    assert _login(port, "s3cret")[0] == 200
