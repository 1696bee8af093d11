"""``python -m verifily_train``: the same CLI as the ``verifily`` command."""

from verifily_cli.app import main

if __name__ == "__main__":
    main()
