"""Training runs, model versions, inference jobs, attention maps and the atlas."""
