"""The GitLab-facing shell: the webhook receiver, the GitLab adapter and publisher, review
rendering, git access, cache and the CLI."""
