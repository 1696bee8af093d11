"""How the CLI ends: one clear message and an exit code, never a traceback (unless --verbose)."""

from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from typing import Iterator, NoReturn

from rich.markup import escape

from verifily_cli.render import err
from verifily_core.errors import VerifilyError

INTERNAL_ERROR = 1


def configure_logging(verbose: bool) -> None:
    """DEBUG for our logger with --verbose; warnings otherwise, and quiet third-party chatter."""
    level = logging.DEBUG if verbose else logging.WARNING
    if not verbose:
        quiet_frameworks()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("verifily").setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "urllib3", "filelock", "matplotlib", "PIL", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_frameworks() -> None:
    """Keep library chatter (load reports, deprecation notices) out of a user's terminal.

    Set before the frameworks are imported; ``--verbose`` leaves everything on.
    """
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    # bitsandbytes warns at import that an optional CPU kernel package is absent: harmless here
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def fail(exc: BaseException, verbose: bool) -> NoReturn:
    """Print ``exc`` for a human and exit: 2 for user errors, 1 for internal ones, 130 on Ctrl-C."""
    if isinstance(exc, KeyboardInterrupt):
        err.print("[yellow]Interrupted.[/yellow]")
        raise SystemExit(130)
    if verbose:
        err.print(traceback.format_exc(), markup=False)
    if isinstance(exc, VerifilyError):
        err.print(f"[bold red]Error:[/bold red] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[bold]Hint:[/bold] {escape(exc.hint)}")
        raise SystemExit(exc.exit_code)
    err.print(f"[bold red]Internal error:[/bold red] {escape(f'{type(exc).__name__}: {exc}')}")
    err.print("This is a bug in Verifily Train (not in your input). Re-run with --verbose for the traceback.")
    raise SystemExit(INTERNAL_ERROR)


@contextmanager
def guarded(verbose: bool) -> Iterator[None]:
    """Run a command body with logging set up and every error turned into a message + exit code."""
    configure_logging(verbose)
    try:
        yield
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - the one place errors become exit codes
        if type(exc).__module__.split(".")[0] in ("typer", "click"):
            # the CLI framework's own exits and usage errors (typer.Exit, BadParameter): typer ends
            # the command with them. Matched by module because typer vendors its own click.
            raise
        fail(exc, verbose)
