"""Request bodies and answers for the hot routes (classify, claim writes), without FastAPI's
dependency injection and response-model round trip, which cost more than the work itself.

A route that reads its own body declares it with `body_of(Model)` (for the OpenAPI document),
parses it with `parse(request, Model)` (invalid JSON or shape: the same 400 as FastAPI's own
validation), and answers with `answer(message)`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
#: models that routes read themselves: app._openapi adds them to the document's components
BODY_MODELS: list[type[BaseModel]] = []


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` of a route whose body is `model`."""
    BODY_MODELS.append(model)
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as error:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        raise RequestValidationError(problems) from None


def answer(message: BaseModel, headers: dict[str, str] | None = None) -> Response:
    return Response(
        message.model_dump_json(by_alias=True), media_type="application/json", headers=headers
    )
