"""``verifily dashboard`` start-up: safety checks, the gradio-missing message, --share offline.

Gradio's server is replaced by a recording fake here (the real one is driven in
tests/e2e/test_dashboard_browser.py), so these tests show what is asked of it and when it is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_cli.handlers import dashboard as handler
from verifily_core.errors import DependencyMissingError, VerifilyError


class FakeApp:
    """Records ``launch`` calls; ``share_url`` is what a tunnel would have given (None offline)."""

    def __init__(self, share_url: Optional[str] = None) -> None:
        self.share_url = share_url
        self.launched: List[Dict[str, Any]] = []
        self.closed = False
        self.blocked = False

    def launch(self, **kwargs: Any) -> None:
        self.launched.append(kwargs)

    def close(self) -> None:
        self.closed = True

    def block_thread(self) -> None:
        self.blocked = True


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> FakeApp:
    pytest.importorskip("gradio")
    import verifily_cli.dashboard.app as app_mod

    fake = FakeApp()
    monkeypatch.setattr(app_mod, "build_app", lambda root: fake)
    return fake


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.8.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("::", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert handler.is_loopback(host) is loopback


def test_parse_auth_splits_on_the_first_colon_and_rejects_half_credentials() -> None:
    assert handler.parse_auth("admin:pa:ss") == ("admin", "pa:ss")
    assert handler.parse_auth(None) is None
    for bad in ("admin", ":pw", "admin:"):
        with pytest.raises(VerifilyError, match="user:password"):
            handler.parse_auth(bad)


def test_non_loopback_without_auth_is_refused_before_serving(fake_app: FakeApp, tmp_path: Path) -> None:
    with pytest.raises(VerifilyError, match="without --auth") as info:
        handler.run_dashboard(runs_dir=tmp_path, port=7860, share=False, host="0.0.0.0", auth=None)
    assert "VERIFILY_DASHBOARD_AUTH" in (info.value.hint or "")
    assert fake_app.launched == []


def test_launch_binds_as_asked_with_auth_and_blocks_runs(fake_app: FakeApp, tmp_path: Path) -> None:
    handler.run_dashboard(runs_dir=tmp_path, port=7861, share=False, host="0.0.0.0", auth="u:p")
    (kwargs,) = fake_app.launched
    assert (kwargs["server_name"], kwargs["server_port"]) == ("0.0.0.0", 7861)
    assert kwargs["auth"]("u", "p") is True and kwargs["auth"]("u", "x") is False  # the throttled check
    assert kwargs["max_file_size"] == 0  # no uploads
    assert "allowed_paths" not in kwargs and kwargs["blocked_paths"] == [str(tmp_path.resolve())]
    assert kwargs["share"] is False and fake_app.blocked


def test_share_warns_and_fails_clearly_without_a_tunnel(
    fake_app: FakeApp, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(VerifilyError, match="internet") as info:
        handler.run_dashboard(runs_dir=tmp_path, port=7862, share=True, host="127.0.0.1", auth="u:p")
    assert "without --share" in (info.value.hint or "")
    assert "public" in capsys.readouterr().err
    assert fake_app.closed and not fake_app.blocked


def test_missing_runs_folder_is_a_clear_error(fake_app: FakeApp, tmp_path: Path) -> None:
    with pytest.raises(VerifilyError, match="Runs folder not found"):
        handler.run_dashboard(runs_dir=tmp_path / "nope", port=7860, share=False, host="127.0.0.1", auth=None)


def test_gradio_missing_names_the_extra_and_exits_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "gradio", None)  # makes `import gradio` raise ImportError
    with pytest.raises(DependencyMissingError, match="Gradio is required for the web UI") as info:
        handler.require_gradio()
    assert '".[web]"' in (info.value.hint or "")
    result = CliRunner().invoke(app, ["dashboard", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "Gradio is required for the web UI" in result.output and "[web]" in result.output
