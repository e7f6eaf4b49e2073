"""A fake GitLab REST API v4 server (real HTTP, real git repositories) for integration tests.

    from tests.fake_gitlab import FakeGitLab, GitRepo

    with FakeGitLab() as fake:
        bot = fake.add_user("review-bot", "bot-token", bot=True)
        project = fake.add_project("group/app", repo.path)
        iid = fake.open_mr(project, author_id=dev, source_branch="feature")
        gl = gitlab.Gitlab(fake.url, private_token="bot-token")

Pytest fixtures (`fake_gitlab`, `gitlab_repo`) are in `tests.fake_gitlab.fixtures`; webhook
payloads for the fake's merge requests (`merge_request_hook`, `note_hook`, `hook_headers`) in
`tests.fake_gitlab.webhooks`.
"""

from tests.fake_gitlab.repo import GitRepo
from tests.fake_gitlab.server import FakeGitLab
from tests.fake_gitlab.state import AccessLevel, ApiError, Fault, LoggedRequest

__all__ = ["AccessLevel", "ApiError", "FakeGitLab", "Fault", "GitRepo", "LoggedRequest"]
