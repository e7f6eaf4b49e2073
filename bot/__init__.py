"""The GitLab-facing shell: git access, cache, CLI and report rendering."""
