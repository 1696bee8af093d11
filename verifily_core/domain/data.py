"""JSONL data: parsing and validation into typed examples, multi-file loading, dataset versions.

This module is the public face of the data layer (the guide and the tests import from here); the
work lives beside it, one job per module:

* ``data_validation``: rows into typed examples, every problem as ``file:line: field: what``, and
  why everything is validated up front;
* ``data_parsing``: reading JSONL files, all problems of all files in one :class:`DataError`;
* ``data_mixing``: several training files, the ``_source_dataset`` tag and weighted mixing;
* ``dataset_version``: :class:`DatasetVersion`, row counts, tag statistics and a content hash.
"""

from __future__ import annotations

from verifily_core.domain.data_mixing import SOURCE_TAG, load_multi_jsonl, load_training_examples
from verifily_core.domain.data_parsing import load_examples
from verifily_core.domain.data_validation import MAX_PROBLEMS
from verifily_core.domain.dataset_version import DatasetVersion

__all__ = [
    "MAX_PROBLEMS",
    "SOURCE_TAG",
    "DatasetVersion",
    "load_examples",
    "load_multi_jsonl",
    "load_training_examples",
]
