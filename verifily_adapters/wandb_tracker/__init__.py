"""WandB tracker: the guide's ``wandb:`` section; offline mode works with no login."""
