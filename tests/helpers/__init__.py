"""What the tests share, in one place: data rows and JSONL files, tiny-run workspaces and configs,
the CLI runners, a pause point for killing a real run at a known step, and the real servers.

``tests/`` is on ``sys.path`` (rootdir conftest), so test modules ``from helpers.data import ...``;
the session fixtures built on these live in ``tests/conftest.py``.
"""
