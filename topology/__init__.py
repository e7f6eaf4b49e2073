"""The Topology Service (FastAPI + PostgreSQL): cells, sequence ranges, lease-based claims,
classification, and a typed client."""
