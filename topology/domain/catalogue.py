"""GitLab's claim catalogue: bucket, subject and source types, and the classify claim keys.

Numbers and names follow GitLab's `claims/v1/messages.proto` and `types/v1/claim.proto`
(../shared/reference/topology-service.md §1.2). Custom bucket types can be registered at run
time (the claim-type registry); they get numbers from CUSTOM_TYPE_START on.
"""

from __future__ import annotations

BUCKET_TYPES: dict[str, int] = {
    "ROUTES": 1,
    "ORGANIZATION_PATH": 2,
    "REDIRECT_ROUTES": 3,
    "USERNAMES": 4,
    "EMAILS": 5,
    "PROJECT_IDS": 6,
    "NAMESPACE_IDS": 7,
    "GPG_KEYS": 8,
    "SSH_KEYS": 9,
    "USER_IDS": 10,
    "ORGANIZATION_IDS": 11,
    "SERVICE_DESK_CUSTOM_EMAILS": 12,
    "GPG_KEY_FINGERPRINTS": 13,
    "SSH_KEY_FINGERPRINTS": 15,
    "SNIPPET_IDS": 16,
    "PAGES_DOMAINS": 17,
    "PAGES_UNIQUE_DOMAINS": 18,
}
CUSTOM_TYPE_START = 1000
SUBJECT_TYPES: dict[str, int] = {"ORGANIZATION": 1, "NAMESPACE": 2, "PROJECT": 3, "USER": 4}
SOURCE_TYPES: dict[str, int] = {
    "RAILS_TABLE_USERS": 1,
    "RAILS_TABLE_EMAILS": 2,
    "RAILS_TABLE_ROUTES": 3,
    "RAILS_TABLE_PROJECTS": 4,
    "RAILS_TABLE_NAMESPACES": 5,
    "RAILS_TABLE_ORGANIZATIONS": 6,
    "RAILS_TABLE_REDIRECT_ROUTES": 7,
    "RAILS_TABLE_GPG_KEYS": 8,
    "RAILS_TABLE_KEYS": 9,
    "RAILS_TABLE_SERVICE_DESK_SETTINGS": 10,
    "RAILS_TABLE_MEMBERS": 11,
    "RAILS_TABLE_SNIPPETS": 12,
    "RAILS_TABLE_PAGES_DOMAINS": 13,
    "RAILS_TABLE_PROJECT_SETTINGS": 14,
}
#: `types.v1.Claim` oneof field -> the bucket type it is looked up in (classify, GetRecord).
CLAIM_FIELDS: dict[str, str] = {
    "route": "ROUTES",
    "organization_path": "ORGANIZATION_PATH",
    "redirect_route": "REDIRECT_ROUTES",
    "username": "USERNAMES",
    "email": "EMAILS",
    "project_id": "PROJECT_IDS",
    "namespace_id": "NAMESPACE_IDS",
    "gpg_key": "GPG_KEYS",
    "ssh_key": "SSH_KEYS",
    "user_id": "USER_IDS",
    "organization_id": "ORGANIZATION_IDS",
    "service_desk_custom_email": "SERVICE_DESK_CUSTOM_EMAILS",
    "gpg_key_fingerprint": "GPG_KEY_FINGERPRINTS",
    "ssh_key_fingerprint": "SSH_KEY_FINGERPRINTS",
    "snippet_id": "SNIPPET_IDS",
    "pages_domain": "PAGES_DOMAINS",
    "pages_unique_domain": "PAGES_UNIQUE_DOMAINS",
}
STATUSES = ("ACTIVE", "LEASE_CREATING", "LEASE_DESTROYING")
