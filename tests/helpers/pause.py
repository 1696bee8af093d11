"""Stop a real ``verifily`` process at a known point, so that a test kills it *there*.

Why: killing "soon after a checkpoint shows up" races the run itself; on a fast or idle machine the
run finishes first and the test fails (or, worse, tests something else). Here the CLI runs under a
small wrapper that hooks one method (by default the Trainer's ``CallbackHandler.on_save``, which
transformers calls once a checkpoint is completely written): after its N-th call returns, the
process writes ``paused`` (the training step) into a folder and waits until the test writes ``go``.
A test waits for the marker, then kills the process or lets it go on: no step depends on timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ON_SAVE = "transformers.trainer_callback:CallbackHandler.on_save"  # a checkpoint is complete
ON_TRAIN_BEGIN = "transformers.trainer_callback:CallbackHandler.on_train_begin"  # a training starts

_WRAPPER = """
import glob, importlib, os, pathlib, runpy, sys, time

folder = pathlib.Path(os.environ["VERIFILY_TEST_PAUSE_DIR"])
module, _, rest = os.environ["VERIFILY_TEST_PAUSE_AT"].partition(":")
qualname, _, nth = rest.partition("@")
when = os.environ.get("VERIFILY_TEST_PAUSE_WHEN")
owner_name, _, method = qualname.rpartition(".")
owner = getattr(importlib.import_module(module), owner_name)
original = getattr(owner, method)
calls = []


def paused(*args, **kwargs):
    result = original(*args, **kwargs)
    if when and not glob.glob(when, recursive=True):
        return result  # not yet: calls count once a file matches ``when``
    calls.append(1)
    if len(calls) == int(nth):
        state = kwargs.get("state", args[2] if len(args) > 2 else None)
        step = str(getattr(state, "global_step", ""))
        (folder / "paused.tmp").write_text(step)
        os.replace(folder / "paused.tmp", folder / "paused")
        while not (folder / "go").exists():
            time.sleep(0.05)
    return result


setattr(owner, method, paused)
runpy.run_module("verifily_train", run_name="__main__", alter_sys=True)
"""


class Pause:
    """A pause point in ``folder``: :meth:`start` a CLI process that stops after the ``nth`` call of
    ``at`` (``"module:Class.method"``), counting only calls made once a file matches the glob
    ``when`` (if given); :meth:`wait` for it, :meth:`release` it (or kill it)."""

    def __init__(self, folder: Path, at: str = ON_SAVE, nth: int = 1, when: Optional[str] = None) -> None:
        self.folder = folder
        self.at = f"{at}@{nth}"
        self.when = when
        folder.mkdir(parents=True, exist_ok=True)

    def start(
        self, *args: str, cwd: Path, env: Optional[Dict[str, str]] = None, **popen: Any
    ) -> subprocess.Popen:
        """``python -m verifily_train ARGS`` under the pause hook (``env`` replaces the inherited one)."""
        full_env = {**(env if env is not None else os.environ)}
        full_env.update(VERIFILY_TEST_PAUSE_DIR=str(self.folder), VERIFILY_TEST_PAUSE_AT=self.at)
        if self.when:
            full_env["VERIFILY_TEST_PAUSE_WHEN"] = self.when
        command: List[str] = [sys.executable, "-c", _WRAPPER, *args]
        if "stdout" in popen:
            return subprocess.Popen(command, cwd=cwd, env=full_env, **popen)
        with (self.folder / "output.log").open("w") as log:  # quoted by wait() when it fails
            return subprocess.Popen(
                command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT, **popen
            )

    def wait(self, proc: subprocess.Popen, timeout: float = 300) -> str:
        """Block until ``proc`` is paused; the step it paused at. Fails if it ends or times out first."""
        deadline = time.monotonic() + timeout
        marker = self.folder / "paused"
        while not marker.exists():
            assert proc.poll() is None, (
                f"ended (exit {proc.returncode}) before its pause point: {self._log()}"
            )
            assert time.monotonic() < deadline, f"the process did not reach its pause point in {timeout} s"
            time.sleep(0.05)
        return marker.read_text()

    def _log(self) -> str:
        log = self.folder / "output.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else "(output not captured)"

    def release(self) -> None:
        """Let a paused process go on (it pauses only once)."""
        (self.folder / "go").write_text("")
