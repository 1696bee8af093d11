"""``accelerate launch -m verifily_train.cli train --config train.yaml``: the CLI as a module."""

from verifily_cli.app import main

if __name__ == "__main__":
    main()
