"""What each command does once its flags are parsed: ``handlers/<command>.py`` beside
``commands/<command>.py``, entry point ``run_<command>`` (the rule: ``verifily_cli.commands``)."""
