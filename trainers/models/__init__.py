"""trainers/models package."""
