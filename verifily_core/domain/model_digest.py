"""The base model as part of the hash chain: which files a run was trained from, by SHA-256.

A run proves little if the model it started from can be swapped: ``training_info.json`` once pointed
at another base model and verification still passed. So at train time the files of the base model
(weights, config, tokenizer: every file of the folder, streamed, or the one file of a ``.gguf``)
are hashed and recorded in ``hashes.json`` under ``base_model``, with the hub revision (commit) when
the model came from the Hugging Face cache; verification hashes the model it would load again.

Where a reference's files live is the backend's knowledge (``ModelBackend.locate_model``): a local
path is itself, a hub id is a snapshot folder of the local cache. A reference with no local files
(a fake backend's name) is recorded as not hashed, which verification reports as a warning.
Dot-entries (``.git``, ``.cache``) of a model folder are not model files and are skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from verifily_core.domain.file_digest import PREFIX, sha256_file, short
from verifily_core.domain.run_files import scan_files


@dataclass(frozen=True)
class ModelSource:
    """Where a model reference's files are: a folder or one file, and the hub commit if known."""

    path: Path
    revision: Optional[str] = None


@dataclass
class BaseModelRecord:
    """``hashes.json``'s ``base_model``: the reference, where it was read, and its files' hashes."""

    reference: str
    path: Optional[str] = None
    revision: Optional[str] = None
    digest: Optional[str] = None
    files: Dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "reference": self.reference,
            "path": self.path,
            "revision": self.revision,
            "digest": self.digest,
            "files": dict(self.files),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Optional[BaseModelRecord]:
        if not isinstance(data, Mapping):
            return None
        listed = data.get("files")
        files: Mapping[str, Any] = listed if isinstance(listed, Mapping) else {}
        return cls(
            str(data.get("reference") or ""),
            _opt(data.get("path")),
            _opt(data.get("revision")),
            _opt(data.get("digest")),
            {str(k): str(v) for k, v in files.items()},
        )


def _opt(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def local_model_source(reference: str) -> Optional[ModelSource]:
    """The default locator: a reference that is an existing local file or folder is itself."""
    path = Path(reference).expanduser()
    return ModelSource(path.resolve()) if path.exists() else None


def model_files(path: Path) -> Dict[str, str]:
    """``name -> sha256`` of a model file, or of every file of a model folder (symlinks followed)."""
    if path.is_file():
        return {path.name: sha256_file(path)}
    files = scan_files(path, follow_symlinks=True).files
    return {
        rel: sha256_file(path / rel) for rel in files if not any(p.startswith(".") for p in rel.split("/"))
    }


def combine(files: Mapping[str, str]) -> str:
    """One digest over names and hashes, in name order."""
    text = "".join(f"{name}\t{digest}\n" for name, digest in sorted(files.items()))
    return PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def hash_base_model(reference: str, source: Optional[ModelSource]) -> BaseModelRecord:
    """The record of ``reference`` read at ``source`` (not hashed when there is no source)."""
    if source is None:
        return BaseModelRecord(reference)
    files = model_files(Path(source.path))
    return BaseModelRecord(reference, str(source.path), source.revision, combine(files), files)


def base_model_findings(recorded: BaseModelRecord, current: BaseModelRecord) -> List[str]:
    """Lines naming how the model that would be loaded now differs from the one trained from."""
    if current.reference != recorded.reference:
        return [f"base model reference changed: {recorded.reference} -> {current.reference}"]
    if recorded.digest is None or current.digest is None:
        if recorded.digest == current.digest:
            return []  # a name with no files (a built-in recipe, a fake), then and now: nothing to hash
        if current.digest is None:
            return [f"base model not found: {recorded.path or recorded.reference} (cannot re-hash it)"]
        return [f"base model {recorded.reference} has files now ({current.path}), none when trained"]
    notes = []
    if recorded.revision != current.revision:
        notes.append(f"base model revision changed: {recorded.revision} -> {current.revision}")
    for name in sorted(set(recorded.files) | set(current.files)):
        was, now = recorded.files.get(name), current.files.get(name)
        if was is None:
            notes.append(f"base model file added: {name}")
        elif now is None:
            notes.append(f"base model file missing: {name}")
        elif was != now:
            notes.append(f"base model file changed: {name}: recorded {short(was)} != current {short(now)}")
    if not notes and current.digest != recorded.digest:
        notes.append(
            f"base model changed: recorded {short(recorded.digest)} != current {short(current.digest)}"
        )
    return notes


__all__ = [
    "BaseModelRecord",
    "ModelSource",
    "base_model_findings",
    "combine",
    "hash_base_model",
    "local_model_source",
    "model_files",
]
