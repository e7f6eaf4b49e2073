"""Pytest fixtures for FakeGitLab; a conftest makes them available with
`from tests.fake_gitlab.fixtures import fake_gitlab, gitlab_repo  # noqa: F401`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_gitlab.repo import GitRepo
from tests.fake_gitlab.server import FakeGitLab


@pytest.fixture
def fake_gitlab() -> Iterator[FakeGitLab]:
    """A started, empty FakeGitLab (no users, no projects); stopped after the test. The test
    fails if a handler raised an unexpected exception (a bug in the fake)."""
    fake = FakeGitLab().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.errors, "FakeGitLab handler errors:\n" + "\n".join(fake.errors)


@pytest.fixture
def gitlab_repo(tmp_path: Path) -> GitRepo:
    """An empty git repository (branch main) in tmp_path/repo, to back a FakeGitLab project."""
    return GitRepo(tmp_path / "repo")
