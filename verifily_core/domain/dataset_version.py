"""Dataset versions: a description of local data files that is equal exactly when the data is.

``content_hash`` is the ``data_hash`` a run trained on the same files records, so a manifest can be
matched to the runs trained on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from verifily_core.domain.data_mixing import SOURCE_TAG
from verifily_core.domain.data_parsing import PathLike, as_list, parse_files
from verifily_core.domain.hashchain import DataFileRecord, data_hash


def _tag_value(value: Any) -> str:
    """Tag values as distribution keys: strings as they are, other scalars as JSON (``true``, ``3``)."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class DatasetVersion:
    """A description of local data files: row counts, tag statistics and a content hash.

    ``num_rows`` counts training rows; validation and test rows are counted separately.
    ``tag_distribution`` is ``{tag key: {value: rows}}`` over the training rows (with
    ``_source_dataset`` when there are several training files). ``content_hash`` equals the
    ``data_hash`` of a run trained on the same files.
    """

    task: str
    train_paths: Tuple[str, ...]
    val_path: Optional[str]
    test_path: Optional[str]
    num_rows: int
    num_val_rows: int
    num_test_rows: int
    tag_keys: List[str]
    tag_distribution: Dict[str, Dict[str, int]]
    content_hash: str
    files: Tuple[DataFileRecord, ...]

    @classmethod
    def from_local_paths(
        cls,
        train_path: Union[PathLike, Sequence[PathLike]],
        task: str,
        val_path: Optional[PathLike] = None,
        test_path: Optional[PathLike] = None,
    ) -> DatasetVersion:
        """Validate and describe the files (``DataError`` listing bad lines of any of them)."""
        train = as_list(train_path)
        extra = [p for p in (val_path, test_path) if p is not None]
        parsed = parse_files([*train, *extra], task)
        train_rows = parsed[: len(train)]
        counts = iter(len(rows) for rows in parsed[len(train) :])
        n_val = next(counts) if val_path is not None else 0
        n_test = next(counts) if test_path is not None else 0

        distribution: Dict[str, Dict[str, int]] = {}
        for path, rows in zip(train, train_rows):
            for e in rows:
                tags = {**e.tags, SOURCE_TAG: Path(path).stem} if len(train) > 1 else e.tags
                for key, value in tags.items():
                    bucket = distribution.setdefault(key, {})
                    label = _tag_value(value)
                    bucket[label] = bucket.get(label, 0) + 1
        distribution = {k: dict(sorted(v.items())) for k, v in sorted(distribution.items())}

        roles = [("train", p) for p in train] + [
            (r, p) for r, p in (("val", val_path), ("test", test_path)) if p is not None
        ]
        content_hash, records = data_hash(roles)
        return cls(
            task,
            tuple(str(p) for p in train),
            None if val_path is None else str(val_path),
            None if test_path is None else str(test_path),
            sum(len(r) for r in train_rows),
            n_val,
            n_test,
            list(distribution),
            distribution,
            content_hash,
            tuple(records),
        )

    def to_manifest_dict(self) -> Dict[str, Any]:
        """JSON-ready manifest (no timestamps, so equal data gives an equal manifest)."""
        return {
            "manifest_version": 1,
            "dataset_version": "local",
            "task": self.task,
            "content_hash": self.content_hash,
            "num_rows": self.num_rows,
            "num_val_rows": self.num_val_rows,
            "num_test_rows": self.num_test_rows,
            "tag_keys": list(self.tag_keys),
            "tag_distribution": {k: dict(v) for k, v in self.tag_distribution.items()},
            "files": [r.to_dict() for r in self.files],
        }


__all__ = ["DatasetVersion"]
