"""Start the dashboard: safety checks first, then Gradio, then one line saying where it runs.

Safe by default: it binds to loopback; any other interface, and ``--share`` (a public URL), need
``--auth`` (a runs folder holds configs, data paths and model outputs); ``--share`` fails clearly
when the tunnel cannot be made, which is always the case offline, instead of quietly serving
locally. Failed logins are throttled per client (``login.py``). Uploads are refused (no component
takes files, so Gradio's upload route gets a size limit of zero). Run folders are blocked from
Gradio's file routes on top of never being handed to Gradio as files.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import ModuleType
from typing import Mapping, Optional, Tuple, Union

from verifily_core.errors import DependencyMissingError, VerifilyError

INSTALL_HINT = 'pip install -e ".[web]"  (or: pip install gradio)'
AUTH_ENV = "VERIFILY_DASHBOARD_AUTH"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(auth: Optional[str]) -> Optional[Tuple[str, str]]:
    """``user:password`` -> ``(user, password)``; the password may itself contain ``:``."""
    if auth is None or auth == "":
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise VerifilyError(
            "--auth must be user:password, with a non-empty user and password.",
            hint=f"For example --auth admin:s3cret (or set {AUTH_ENV}=admin:s3cret).",
        )
    return user, password


def check_safety(host: str, credentials: Optional[Tuple[str, str]], share: bool = False) -> None:
    """Refuse to expose the runs on a non-loopback interface, or a public share link, without a
    password."""
    if credentials is not None:
        return
    if share:
        raise VerifilyError(
            "Refusing --share without --auth: the public link would show every run (configs, data "
            "paths, predictions) to anyone who has it.",
            hint=f"Add --auth user:password (or set {AUTH_ENV}).",
        )
    if not is_loopback(host):
        raise VerifilyError(
            f"Refusing to serve the dashboard on {host} without --auth: anyone who can reach this "
            "machine would see every run (configs, data paths, predictions).",
            hint=f"Add --auth user:password (or set {AUTH_ENV}), or keep the default --host 127.0.0.1.",
        )


def check_runs_dir(runs_dir: Path) -> Union[Path, str]:
    """The runs folder, resolved; a bucket URL (``s3://bucket/runs``) as it is."""
    from verifily_core.domain.locations import remote_url

    url = remote_url(runs_dir)
    if url is not None:
        return url
    if not runs_dir.is_dir():
        raise VerifilyError(
            f"Runs folder not found: {runs_dir}",
            hint="Pass the folder that holds your run folders with --runs-dir (default: runs/), "
            "or train a run first with `verifily train --config <file>`.",
        )
    return runs_dir.resolve()


def require_gradio() -> ModuleType:
    """The gradio module, or the install hint (exit 2) when the [web] extra is not installed."""
    try:
        import gradio
    except ImportError:
        raise DependencyMissingError("Gradio is required for the web UI", hint=INSTALL_HINT) from None
    return gradio


def can_open_browser(env: Mapping[str, str], platform: str, interactive: bool) -> bool:
    """Whether opening a browser can show the page to the person who typed the command.

    Not over SSH (the browser would open on the remote machine, or a text browser in the
    terminal), not on a Linux/BSD box without a display (``DISPLAY``/``WAYLAND_DISPLAY``), and not
    when stdout is not a terminal (a script, a CI job or a test started the dashboard).
    """
    if not interactive or any(env.get(k) for k in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")):
        return False
    if platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))
    return True


def open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser when :func:`can_open_browser`; True if one was opened."""
    import os
    import sys
    import webbrowser

    if not can_open_browser(os.environ, sys.platform, sys.stdout.isatty()):
        return False
    try:
        return webbrowser.open(url, new=2)
    except webbrowser.Error:
        return False


def run_dashboard(
    *, runs_dir: Path, port: int, share: bool, host: str, auth: Optional[str], browser: bool = True
) -> None:
    """Serve the dashboard over ``runs_dir`` until Ctrl-C; open it in a browser when ``browser``
    and a browser can be shown here (see :func:`can_open_browser`)."""
    from verifily_cli.render import err, out

    credentials = parse_auth(auth)
    check_safety(host, credentials, share)
    if not 0 < port < 65536:
        raise VerifilyError(f"--port must be between 1 and 65535, got {port}.")
    root = check_runs_dir(Path(runs_dir).expanduser())
    require_gradio()
    from verifily_cli.dashboard.app import build_app
    from verifily_core.bootstrap import open_store

    if share:
        err.print(
            "[bold yellow]Warning:[/bold yellow] --share publishes this dashboard on a public "
            "gradio.live URL: anyone with the link and the password sees every run in the folder. "
            "It needs internet access."
        )
    app = build_app(root)
    staging = open_store(root).root  # the runs folder, or a bucket's local staging folder
    from starlette.middleware import Middleware

    from verifily_cli.dashboard.login import ClientAddress, ThrottledLogin

    try:
        app.launch(
            server_name=host,
            server_port=port,
            share=share,
            auth=ThrottledLogin(credentials) if credentials else None,
            app_kwargs={"middleware": [Middleware(ClientAddress)]},
            max_file_size=0,  # no component takes files: every upload is refused (HTTP 413)
            quiet=True,
            prevent_thread_lock=True,
            ssr_mode=False,
            blocked_paths=[str(staging)],
            show_error=False,
        )
    except OSError as exc:
        raise VerifilyError(
            f"Cannot serve the dashboard on {host}:{port}: {exc}",
            hint="Is another program using that port? Pick another with --port.",
        ) from None
    if share and not app.share_url:
        app.close()
        raise VerifilyError(
            "Could not create the public share link: --share needs internet access to Gradio's "
            "tunnelling service, and this machine could not reach it (offline?).",
            hint="Run without --share; to reach the dashboard from another machine use "
            "--host 0.0.0.0 --auth user:password on a network you trust.",
        )
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    out.print(
        f"Dashboard on http://{shown}:{port}/ over {root}"
        + (f" and {app.share_url}" if app.share_url else "")
        + "  (Ctrl-C to stop)"
    )
    if browser:
        open_browser(f"http://{shown}:{port}/")
    app.block_thread()
