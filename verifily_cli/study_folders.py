"""Study folders (``tune_<id>``, ``attribute_<id>``) live next to the runs, in the same store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Tuple

if TYPE_CHECKING:
    from verifily_core.errors import VerifilyError
    from verifily_core.ports.artifact_store import ArtifactStore


def open_study_folder(path: Path, error: type[VerifilyError], kind: str) -> Tuple[ArtifactStore, str]:
    """The store holding a study folder and the folder's id; ``error`` names a missing folder."""
    from verifily_core.bootstrap import open_store
    from verifily_core.domain.locations import remote_url, split_run_url

    url = remote_url(path)
    if url is not None:
        runs_url, folder_id = split_run_url(url)
        store = open_store(runs_url)
        store.location(folder_id)  # RunNotFoundError naming the URL when there is no such folder
        return store, folder_id
    folder = Path(path).expanduser()
    if not folder.is_dir():
        example = f"runs/{kind}_20260208_143022_a1b2c3"
        raise error(
            f"{kind.capitalize()} folder not found: {path}",
            hint=f"Pass the folder a {kind} created, e.g. --resume {example}.",
        )
    folder = folder.resolve()
    return open_store(folder.parent), folder.name
