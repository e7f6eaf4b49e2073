"""The Celery side of the review bot: the app, its tasks, per-MR locks, and the wiring of the
webhook receiver to the queue (`cellsbot serve` included)."""
