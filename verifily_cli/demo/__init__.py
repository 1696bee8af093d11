"""What ``verifily demo`` builds: its tagged data and configs (``workspace``) and the real-model step
(``real_model``); the command's steps are in ``verifily_cli.handlers.demo``."""
