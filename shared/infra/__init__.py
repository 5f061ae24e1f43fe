"""Infrastructure the services stand on: embedded servers, checkpoints, artifact storage."""
