"""Celery application and tasks. Not yet built."""
