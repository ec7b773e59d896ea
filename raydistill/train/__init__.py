"""Fine-tuning a round's checkpoint: Ray Train running TRL, or a user's own trainer."""
