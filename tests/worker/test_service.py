"""The receiver's side of the queue: the message it pushes onto Redis is the one Celery's own
`send_task` pushes, and each broker gets the intake that suits it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from bot.intake import DedupeIntake, RedisIntake
from bot.settings import BotSettings
from tests.conftest import REDIS_URL
from worker.celery_app import create_celery
from worker.service import intake_for, redis_message

ARGS = [42, 7, "a" * 40]
#: what the receiver adds to every message (worker.observed.message_kwargs)
KWARGS = {
    "correlation_id": "0f8e2a4c-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
    "trace_context": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
}
#: values that differ per message (ids) or per sender (origin; reply_to, for results, which
#: the bot does not keep)
VARYING = {"id", "root_id", "correlation_id", "delivery_tag", "origin", "reply_to"}


def _same_shape(ours: Any, celerys: Any, path: str = "") -> list[str]:
    """Where `ours` differs from Celery's message, but for the VARYING values."""
    if isinstance(celerys, dict):
        if not isinstance(ours, dict) or ours.keys() != celerys.keys():
            return [f"{path}: keys {sorted(ours)} != {sorted(celerys)}"]
        return [
            problem
            for key in celerys
            if key not in VARYING
            for problem in _same_shape(ours[key], celerys[key], f"{path}.{key}")
        ]
    return [] if ours == celerys else [f"{path}: {ours!r} != {celerys!r}"]


@pytest.mark.parametrize("kwargs", [None, KWARGS], ids=["args", "args-and-context"])
def test_the_message_is_the_one_send_task_pushes(
    redis_client: Any, kwargs: dict[str, Any] | None
) -> None:
    queue = f"cellsbot-test-{uuid.uuid4().hex[:8]}"
    celery = create_celery(BotSettings(broker_url=REDIS_URL, queue=queue))
    try:
        celery.send_task("cellsbot.review", args=ARGS, kwargs=kwargs)
        celerys = json.loads(redis_client.rpop(queue))
    finally:
        redis_client.delete(queue, *redis_client.keys(f"_kombu.binding*{queue}*"))
    ours = json.loads(redis_message("cellsbot.review", ARGS, queue, kwargs))
    celerys["headers"]["ignore_result"] = False  # send_task leaves it to the app's setting
    for message in (ours, celerys):  # the same JSON, whatever its spacing
        message["body"] = json.loads(base64.b64decode(message["body"]))
    assert _same_shape(ours, celerys) == []
    headers, properties = ours["headers"], ours["properties"]
    assert headers["id"] == headers["root_id"] == properties["correlation_id"]
    assert ours["body"][:2] == [ARGS, kwargs or {}]
    assert properties["delivery_info"] == {"exchange": "", "routing_key": queue}


def test_messages_have_their_own_ids() -> None:
    first, second = (json.loads(redis_message("cellsbot.help", [1, 2, "bot"], "q")) for _ in "ab")
    assert first["headers"]["id"] != second["headers"]["id"]


def test_a_redis_broker_gets_the_atomic_intake(tmp_path: Any) -> None:
    settings = BotSettings(broker_url=REDIS_URL, data_dir=tmp_path)
    assert isinstance(intake_for(create_celery(settings), settings, "cellsbot"), RedisIntake)
    files = BotSettings(data_dir=tmp_path)
    assert isinstance(intake_for(create_celery(files), files, "cellsbot"), DedupeIntake)
