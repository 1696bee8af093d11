"""Validate a run's data files without keeping them: what ``train --dry-run --no-model-check`` needs.

Why a second path beside the loaders: a loader must hold every example (training needs them), so
validating a 1 GB file that way took 5.5 GB of memory. A dry run needs only the verdicts and a few
figures (rows per split, the training label set, val/test labels never seen in training), and each
of them can be gathered line by line. The same row checks run (``iter_file``), the same
``DataError`` is raised, and memory stays bounded by one line plus the first problems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from verifily_core.domain.data_files import split_files
from verifily_core.domain.data_mixing import check_weights
from verifily_core.domain.data_parsing import check_task, iter_file
from verifily_core.domain.data_validation import Problems
from verifily_core.domain.examples import ClassificationExample
from verifily_core.errors import DataError

MAX_LISTED = 20


@dataclass
class DataCounts:
    """Rows per split (``train`` counts every training file once: mixing weights keep the total),
    the sorted training labels (classification)."""

    rows: Dict[str, int] = field(default_factory=dict)
    labels: List[str] = field(default_factory=list)


def scan_data(files: Mapping[str, Any], task: str, weights: Optional[Sequence[float]] = None) -> DataCounts:
    """Every data file read once, streamed; ``DataError`` for bad rows, then for unseen labels."""
    check_task(task)
    if weights is not None:
        check_weights(weights, len(split_files(files, "train")))
    problems = Problems()
    counts = DataCounts()
    train_labels: set[str] = set()
    unseen: Dict[str, List[Tuple[str, int, str]]] = {}
    unseen_total: Dict[str, int] = {}
    for split in ("train", "val", "test"):
        n = 0
        for path in split_files(files, split):
            for example in iter_file(path, task, problems):
                n += 1
                if not isinstance(example, ClassificationExample):
                    continue
                if split == "train":
                    train_labels.add(example.label)
                elif example.label not in train_labels:
                    unseen_total[split] = unseen_total.get(split, 0) + 1
                    listed = unseen.setdefault(split, [])
                    if len(listed) < MAX_LISTED:
                        listed.append((example.file, example.line, example.label))
        counts.rows[split] = n
    problems.raise_if_any(task)
    counts.labels = sorted(train_labels)
    for split, listed in unseen.items():
        raise unseen_labels_error(split, unseen_total[split], listed, counts.labels)
    return counts


def unseen_labels_error(
    split: str, total: int, listed: Sequence[Tuple[str, int, str]], labels: Sequence[str]
) -> DataError:
    """A val/test label never seen in training can only ever be wrong: the error listing them."""
    lines = [f"{file}:{line}: label {label!r}" for file, line, label in listed[:MAX_LISTED]]
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more")
    return DataError(
        f"{total} row(s) of data_paths.{split} have labels that never occur in training "
        f"(training labels: {', '.join(labels)}):",
        problems=lines,
        hint="Add examples of those labels to the training data, or fix the labels.",
    )
