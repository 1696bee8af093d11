"""The ``verifily`` commands: one module per command, and one handler module of the same name.

The rule, without exceptions: ``commands/<name>.py`` declares a command's flags (typer), turns them
into plain values (``verifily_cli.options`` holds the parsing that several commands share) and calls
``verifily_cli.handlers.<name>.run_<command>`` (``run_train``, ``run_export``, ``run_flush``, ...),
which does the work: it wires the core through bootstrap, runs the use case and prints the result.
A handler is imported inside the command function, so that ``verifily --help`` imports typer and
these modules only (no core use case, no torch).

One module may hold several commands when they are one concept: ``predict`` + ``export`` (a trained
run's model outside evaluation), ``reproduce`` + ``keygen`` + ``sign`` (proving what produced a run:
``reproduce`` checks the seal, ``--verify-only``, or re-trains, its rerun mode; ``keygen``/``sign``
make the signature that ``reproduce --key`` checks), ``billing`` (a command group). Code that only
one handler uses and that is too large for it lives in a package named after the command
(``verifily_cli/dashboard/``: the web UI; ``verifily_cli/demo/``: the demo's data and configs).
"""
