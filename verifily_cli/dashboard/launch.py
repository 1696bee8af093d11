"""Start the dashboard (issue 9 builds the app)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def launch(*, runs_dir: Path, port: int, share: bool, host: str, auth: Optional[str]) -> None:
    from verifily_core.errors import VerifilyError

    raise VerifilyError("The web dashboard is not available yet in this build.",
                        hint="Use `verifily compare-cmd` and `verifily eval-cmd` meanwhile.")
