"""Topology Service (FastAPI + PostgreSQL): cells, sequence ranges, claims. Not built yet."""
