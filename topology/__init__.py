"""Topology Service (FastAPI + PostgreSQL): cells, sequence ranges, claims, classify. Not yet built."""
