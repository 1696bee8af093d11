"""Weights & Biases tracking: the guide's ``wandb:`` section (project, entity, tags, log_model).

Why credentials are checked before ``wandb.init``: without an API key, ``wandb.init`` in a terminal
may stop and prompt for a login in the middle of a CLI run. So unless wandb runs offline
(``WANDB_MODE=offline``, which needs no account and opens no connection), the tracker looks for a
key the way wandb does, without any network call (``WANDB_API_KEY``, an identity token file, or a
``.netrc`` entry for the wandb host, which ``wandb login`` writes) and raises ``TrackerError`` at
``start``, before training, when there is none.

wandb not installed is not an error: the run goes on without it, as the guide promises.
"""

from __future__ import annotations

import logging
import netrc
import os
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from verifily_core.config import TrainConfig
from verifily_core.errors import TrackerError
from verifily_core.ports.tracker import Tracker

logger = logging.getLogger("verifily")

MISSING_MESSAGE = "wandb not installed, disabling WandB logging"
_NO_ACCOUNT_MODES = ("offline", "dryrun", "disabled")
_DEFAULT_HOST = "https://api.wandb.ai"


class WandbTracker(Tracker):
    """One wandb run per training run, named after the run id."""

    PLUGIN_NAME = "wandb"

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self._run: Any = None
        self._run_id = ""

    @classmethod
    def enabled_by(cls, config: TrainConfig) -> bool:
        """The guide's ``wandb.enabled: true`` switches it on, listed in ``trackers`` or not."""
        return bool(config.wandb.enabled)

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        try:
            import wandb
        except ImportError:
            logger.warning(MISSING_MESSAGE)
            return
        if not (_runs_without_account() or _has_credentials()):
            raise TrackerError(
                "WandB logging is enabled (wandb.enabled: true) but no WandB API key is configured",
                hint="Run `wandb login`, set WANDB_API_KEY, set WANDB_MODE=offline to log locally, "
                "or set wandb.enabled: false.",
            )
        section = self.config.wandb
        self._run_id = run_id
        try:
            self._run = wandb.init(
                project=section.project,
                entity=section.entity,
                tags=list(section.tags) if section.tags else None,
                config=dict(config),
                name=run_id,
                dir=os.environ.get("WANDB_DIR") or str(self.run_dir),
            )
        except Exception as exc:  # noqa: BLE001 - wandb raises many types; one tracker error out
            raise TrackerError(
                f"wandb.init failed: {exc}", hint="Check the wandb project/entity, or set WANDB_MODE=offline."
            ) from exc

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if self._run is not None:
            self._call("log", lambda: self._run.log(dict(metrics), step=step))

    def log_artifact(self, path: Path, name: str) -> None:
        """Upload the folder as a ``model`` artifact when ``wandb.log_model`` is on."""
        if self._run is None or not self.config.wandb.log_model:
            return
        import wandb

        def upload() -> None:
            artifact = wandb.Artifact(name=_artifact_name(f"{self._run_id}-{name}"), type="model")
            artifact.add_dir(str(path))
            self._run.log_artifact(artifact)

        self._call("log_artifact", upload)

    def finish(self, summary: Mapping[str, Any]) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        try:
            self._call("summary", lambda: run.summary.update(dict(summary)))
        finally:
            self._call("finish", run.finish)

    def _call(self, what: str, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - vendor errors become TrackerError
            raise TrackerError(f"wandb {what} failed: {exc}") from exc


def _runs_without_account() -> bool:
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    disabled = os.environ.get("WANDB_DISABLED", "").strip().lower() in ("1", "true", "yes")
    return mode in _NO_ACCOUNT_MODES or disabled


def _has_credentials() -> bool:
    """An API key for the wandb host from the environment or ``.netrc``; no network involved."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or _DEFAULT_HOST).hostname or ""
    for path in _netrc_paths():
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (OSError, netrc.NetrcParseError):
            continue
        if entry and entry[2]:
            return True
    return False


def _netrc_paths() -> list[Path]:
    explicit = os.environ.get("NETRC")
    if explicit:
        return [Path(explicit).expanduser()]
    return [Path("~/.netrc").expanduser(), Path("~/_netrc").expanduser()]


def _artifact_name(name: str) -> str:
    """wandb artifact names allow letters, digits, dashes, underscores and dots only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)
