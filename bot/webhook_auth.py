"""Who sent a delivery: GitLab's secret token, and its Standard Webhooks signature.

The secret token (`X-Gitlab-Token`) travels in plain text; the signature (GitLab 19.0+,
`webhook-id` / `webhook-timestamp` / `webhook-signature`) proves the body and, with the
timestamp tolerance and the seen-set, limits replays. Neither secrets nor the values a
sender presented are ever logged or echoed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Iterable, Mapping

TOKEN_HEADER = "x-gitlab-token"
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = (
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
)
_TIMESTAMP = re.compile(r"\d{1,12}")


class AuthError(Exception):
    """The delivery is not GitLab's (401); `reason` is safe to show the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_signing_key(value: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` signing token (the prefix is optional)."""
    try:
        key = base64.b64decode(value.strip().removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook signing key is not whsec_<base64>") from None
    if not key:
        raise ValueError("the webhook signing key is empty")
    return key


class WebhookAuth:
    """Checks deliveries against every configured secret (several during a rotation) and,
    when a signing key is configured, against the signature too: both must pass."""

    def __init__(
        self,
        secrets: Iterable[str],
        signing_key: bytes | None,
        *,
        tolerance: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._digests = [_digest(secret.encode()) for secret in secrets]
        self._key = signing_key
        self._tolerance = tolerance
        self._clock = clock
        if not self._digests and self._key is None:
            raise ValueError("no webhook secret and no signing key: refusing to run open")

    def check_token(self, token: str | None) -> None:
        """Constant time against each secret (a match is not short-circuited either)."""
        if not self._digests:
            return
        if not token:
            raise AuthError("missing X-Gitlab-Token")
        presented = _digest(_raw(token))
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(known, presented)
        if not matched:
            raise AuthError("invalid X-Gitlab-Token")

    def check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        """Standard Webhooks: base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`; the header may
        list several `v1,<signature>` entries (key rotation on the sender's side)."""
        if self._key is None:
            return
        webhook_id = headers.get(ID_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        signatures = headers.get(SIGNATURE_HEADER)
        if not webhook_id or not timestamp or not signatures:
            raise AuthError("missing webhook-id, webhook-timestamp or webhook-signature")
        self._check_timestamp(timestamp)
        signed = b".".join((_raw(webhook_id), _raw(timestamp), body))
        expected = hmac.new(self._key, signed, hashlib.sha256).digest()
        matched = False
        for candidate in _v1_signatures(signatures):
            matched |= hmac.compare_digest(expected, candidate)
        if not matched:
            raise AuthError("invalid webhook-signature")

    def _check_timestamp(self, timestamp: str) -> None:
        if not _TIMESTAMP.fullmatch(timestamp):
            raise AuthError("webhook-timestamp is not an integer of seconds")
        skew = self._clock() - int(timestamp)
        if skew > self._tolerance:
            raise AuthError("webhook-timestamp is too old")
        if -skew > self._tolerance:
            raise AuthError("webhook-timestamp is in the future")


def _v1_signatures(header: str) -> list[bytes]:
    """The decodable `v1,` entries; others (`v1a,` asymmetric, garbage) are skipped."""
    found = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def _digest(value: bytes) -> bytes:
    """Equal-length values for compare_digest, whatever the secrets' lengths."""
    return hashlib.sha256(value).digest()


def _raw(header: str) -> bytes:
    """A header's bytes as sent (ASGI servers decode headers as latin-1)."""
    try:
        return header.encode("latin-1")
    except UnicodeEncodeError:
        return header.encode("utf-8", "surrogateescape")
