"""Run the Topology Service, and describe its API."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

from topology.cluster import Cluster, parse_cluster
from topology.observability.logs import configure_logging
from topology.observability.tracing import TracingUnavailable, configure_tracing
from topology.settings import TopologySettings


def serve(cluster_file: Path, *, host: str, port: int) -> None:
    """Serve until interrupted. The cluster file is read (and checked) before the server starts."""
    import uvicorn  # noqa: PLC0415

    from topology.api.app import create_app  # noqa: PLC0415

    try:
        text = cluster_file.read_text()
    except OSError as error:
        from topology.cluster import ClusterError  # noqa: PLC0415

        raise ClusterError(f"cannot read the cluster file: {error}") from error
    cluster = parse_cluster(text, source=str(cluster_file))
    settings = TopologySettings(cluster_file=cluster_file)
    configure_logging(format=settings.log_format, level=settings.log_level)
    try:
        configure_tracing(settings.otlp_endpoint, service_name="cellsbot-topology")
    except TracingUnavailable as error:
        print(f"cellsbot: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    # uvicorn shuts down gracefully on SIGTERM and then raises it again; exit through Python
    # then, so that exit handlers run (they stop an embedded PostgreSQL)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    uvicorn.run(
        create_app(settings, cluster=cluster),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's lines go through configure_logging's handler
    )


def openapi() -> dict[str, Any]:
    from topology.api.app import create_app  # noqa: PLC0415

    return create_app(TopologySettings(), cluster=Cluster((), ())).openapi()


def openapi_json() -> str:
    return json.dumps(openapi(), indent=2, sort_keys=True) + "\n"


def api_reference() -> str:
    """docs/topology-api.md: every route, who may call it, its parameters, body and answers."""
    spec = openapi()
    lines = [
        "# Topology Service API reference",
        "",
        "Generated from the OpenAPI document by `cellsbot topology api-docs`; do not edit by hand.",
        "The running service publishes the same document at `/openapi.json`.",
        "",
        "Bodies are JSON as protojson writes GitLab's messages: lowerCamelCase field names",
        "(snake_case accepted on input), int64 as strings (numbers accepted on input, although",
        "the tables below say `integer`), bytes as base64, enums by name. Every `/v1` request",
        "needs `Authorization: Bearer <token>` of a caller in the cluster file; `/healthz`,",
        "`/readyz`, `/openapi.json` and `/docs` need none. Errors are `google.rpc.Status` bodies:",
        '`{"code": <gRPC code>, "message": "…", "details": [{"@type": "…ErrorInfo",',
        '"reason": "…"}]}`; switch on the `reason`.',
        "",
    ]
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            lines += [
                f"## `{method.upper()} {path}`",
                "",
                operation.get("description", "").strip(),
                "",
            ]
            parameters = operation.get("parameters", [])
            if parameters:
                lines += [
                    "| parameter | in | type | required | description |",
                    "|---|---|---|---|---|",
                ]
                for parameter in parameters:
                    required = "yes" if parameter.get("required") else "no"
                    lines.append(
                        f"| `{parameter['name']}` | {parameter['in']} "
                        f"| {_type(parameter['schema'])} | {required} "
                        f"| {parameter.get('description', '')} |"
                    )
                lines.append("")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                lines += [f"Request body: {_type(body['schema'])}", ""]
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {}).get("application/json", {}).get("schema")
                shape = f": {_type(content)}" if content else ""
                lines.append(f"- `{status}` {answer.get('description', '')}{shape}")
            lines.append("")
    lines += ["# Messages", ""]
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue
        lines += [f"## {name}", ""]
        if schema.get("description"):
            lines += [schema["description"].strip(), ""]
        properties = schema.get("properties", {})
        if properties:
            lines += ["| field | type | required |", "|---|---|---|"]
            required = set(schema.get("required", []))
            for field, value in properties.items():
                lines.append(
                    f"| `{field}` | {_type(value)} | {'yes' if field in required else 'no'} |"
                )
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    return schema.get("type", "any")
