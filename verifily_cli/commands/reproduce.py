"""``verifily reproduce``/``keygen``/``sign``: prove what produced a run.

``reproduce`` has two modes: verify (``--verify-only``: the seal, recomputed) and rerun (train it
again and compare); ``keygen`` and ``sign`` make the signature that ``reproduce --key`` checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def reproduce_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    verify_only: bool = typer.Option(False, "--verify-only", help="Check hashes without retraining."),
    atol: Optional[float] = typer.Option(
        None,
        "--atol",
        help="Tolerance for weights and metrics in the rerun mode (no --verify-only; default: bitwise).",
    ),
    key: Optional[Path] = typer.Option(
        None,
        "--key",
        help="Ed25519 public key (PEM, from `verifily keygen`): the run must carry a valid signature by "
        "its private key; this detects a consistently rewritten hashes.json.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    verbose: bool = verbose_option(),
) -> None:
    """Verify the reproducibility hash chain of a run (exit 1 on FAIL)."""
    with guarded(verbose):
        from verifily_cli.handlers.reproduce import run_reproduce

        code = run_reproduce(run, verify_only=verify_only, atol=atol, json_output=json_output, key=key)
    raise typer.Exit(code)


def keygen_command(
    out: Path = typer.Option(..., "--out", help="Folder for signing_key.pem and signing_key.pub.pem."),
    verbose: bool = verbose_option(),
) -> None:
    """Create an Ed25519 key pair for signing runs (never overwrites a key)."""
    with guarded(verbose):
        from verifily_cli.handlers.reproduce import run_keygen

        run_keygen(out)


def sign_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    key: Path = typer.Option(..., "--key", help="Ed25519 private key (PEM) from `verifily keygen`."),
    verbose: bool = verbose_option(),
) -> None:
    """Sign a completed run after checking its seal (writes provenance.intoto.jsonl)."""
    with guarded(verbose):
        from verifily_cli.handlers.reproduce import run_sign

        run_sign(run, key)
