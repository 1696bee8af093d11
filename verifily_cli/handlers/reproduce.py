"""What ``verifily reproduce``, ``keygen`` and ``sign`` do once their flags are parsed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from verifily_cli.render import out, print_json, progress, relative


def run_reproduce(
    run: Path, *, verify_only: bool, atol: Optional[float], json_output: bool, key: Optional[Path] = None
) -> int:
    """``reproduce`` in its two modes: verify (``--verify-only``: the seal, hashes and signature) or
    rerun (re-train and compare). Exit code: 0 PASS, 1 FAIL. With ``key``, a rerun verifies the
    signature first and stops on a FAIL."""
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.reproduction.verify import report_lines, verify

    store, run_id, backend = ports_for_run(run)
    if verify_only or key is not None:
        env = backend.environment()
        result = verify(store, run_id, environment=env, locate_model=backend.locate_model, public_key=key)
        if verify_only or result.verdict == "FAIL":
            if json_output:
                print_json(result.to_dict())
            else:
                for line in report_lines(result):
                    out.print(line, markup=False)
            return 1 if result.verdict == "FAIL" else 0

    return run_rerun(run, atol=atol, json_output=json_output)


def run_keygen(folder: Path) -> None:
    """Write ``signing_key.pem`` (mode 0600) and ``signing_key.pub.pem``; refuse to overwrite."""
    from verifily_core.domain.provenance import KEY_ENV, generate_key_pair
    from verifily_core.errors import ConfigError

    folder = folder.expanduser()
    private, public = folder / "signing_key.pem", folder / "signing_key.pub.pem"
    existing = [str(p) for p in (private, public) if p.exists()]
    if existing:
        raise ConfigError(f"Not overwriting {', '.join(existing)}.", hint="Pick another --out folder.")
    folder.mkdir(parents=True, exist_ok=True)
    private_pem, public_pem = generate_key_pair()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    public.write_bytes(public_pem)
    out.print(f"Private key: {private} (keep it secret; sign with {KEY_ENV}={private})", markup=False)
    out.print(f"Public key:  {public} (verify with reproduce --verify-only --key {public})", markup=False)


def run_sign(run: Path, key: Path) -> None:
    """Sign a run only when ``reproduce --verify-only`` would pass it (a signature vouches for it)."""
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.errors import IntegrityError
    from verifily_core.services.reproduction.verify import verify
    from verifily_core.services.run_folder.seal import sign_run

    store, run_id, backend = ports_for_run(run)
    result = verify(store, run_id, environment=backend.environment(), locate_model=backend.locate_model)
    failed = [n for n, status in result.checks.items() if status == "FAIL" and n != "signature"]
    if failed:
        raise IntegrityError(
            f"Run {run_id} does not verify; not signing it:",
            problems=[line for n in failed for line in result.findings.get(n, [])],
        )
    key_id = sign_run(store, run_id, key.expanduser())
    out.print(f"Signed {run_id} with key {key_id}: {run / 'provenance.intoto.jsonl'}", markup=False)


def run_rerun(run: Path, *, atol: Optional[float], json_output: bool) -> int:
    """``reproduce`` without ``--verify-only``: re-train the run from its frozen config and compare
    the hash chain, train loss, metrics and weights (within ``atol``); exit code 0 PASS, 1 FAIL."""
    from verifily_core.bootstrap import training_for_run
    from verifily_core.domain.training import TrainCallbacks
    from verifily_core.services.reproduction.rerun import rerun

    deps, run_id = training_for_run(run)
    with progress(f"Re-training {run_id}", enabled=not json_output) as bar:
        report = rerun(
            run_id,
            deps,
            atol=atol,
            callbacks=TrainCallbacks(on_start=bar.start, on_step=bar.step, on_log=bar.log),
        )
    if json_output:
        print_json(report.to_dict())
    else:
        out.print(f"Reproduction: {run_id} re-trained as {report.new_run_id}", markup=False)
        for name, status in report.checks.items():
            out.print(f"  {name + ':':<18}{status}", markup=False)
        for line in report.details:
            out.print(f"    {line}", markup=False)
        out.print(f"  {'Overall:':<18}{report.verdict}", markup=False)
        out.print(f"  New run:          {relative(report.new_run_path)}", markup=False)
    return 1 if report.verdict == "FAIL" else 0
