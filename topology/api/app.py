"""The Topology Service's FastAPI application: state, lifespan, routers and operations (each
request's correlation id, `GET /metrics`, server spans when tracing is on)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from psycopg_pool import AsyncConnectionPool

from topology.api import errors, schemas
from topology.api.auth import Authenticator
from topology.api.bodies import BODY_MODELS
from topology.api.metrics import ObservedRequests, TopologyMetrics
from topology.cluster import Cell, Cluster, parse_cluster
from topology.observability import tracing
from topology.observability.logs import register_secrets, register_url
from topology.settings import TopologySettings
from topology.storage import repository
from topology.storage.database import embedded_url
from topology.storage.migrate import apply_migrations


@dataclass
class CellDirectory:
    """Cells kept in memory for `ttl` seconds: classify must not wait for the database."""

    ttl: float
    _cells: list[Cell] = field(default_factory=list)
    _loaded: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def cells(self, pool: AsyncConnectionPool) -> list[Cell]:
        if time.monotonic() - self._loaded < self.ttl:
            return self._cells
        async with self._lock:
            if time.monotonic() - self._loaded >= self.ttl:
                async with pool.connection() as conn:
                    self._cells = await repository.get_cells(conn)
                self._loaded = time.monotonic()
        return self._cells

    async def cell(self, pool: AsyncConnectionPool, cell_id: int) -> Cell | None:
        """One cell; a cell this replica has not seen yet (added through another replica) is
        looked up in the database at once rather than after `ttl`."""
        found = next((c for c in await self.cells(pool) if c.id == cell_id), None)
        if found is None:
            self.invalidate()
            found = next((c for c in await self.cells(pool) if c.id == cell_id), None)
        return found

    def invalidate(self) -> None:
        self._loaded = float("-inf")


@dataclass
class OwnerCache:
    """Claim owners this replica looked up in the last `ttl` seconds (classify's hot path).

    Only found owners are kept, so a claim is routable as soon as it is leased. A claim this
    replica destroys or rolls back is forgotten at once; one that another replica removes may
    be answered with its old owner for up to `ttl` seconds, well within the `Cache-Control`
    lifetime that routers are told anyway."""

    ttl: float
    size: int = 100_000
    _owners: dict[object, tuple[int, float]] = field(default_factory=dict)

    async def owner(self, key: object, lookup: Callable[[], Awaitable[int | None]]) -> int | None:
        now = time.monotonic()
        cached = self._owners.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        owner = await lookup()
        if owner is not None and self.ttl > 0:
            if len(self._owners) >= self.size:
                self._owners.clear()
            self._owners[key] = (owner, now + self.ttl)
        return owner

    def forget(self, keys: Iterable[object]) -> None:
        for key in keys:
            self._owners.pop(key, None)


@dataclass
class TopologyState:
    settings: TopologySettings
    cluster: Cluster
    pool: AsyncConnectionPool
    authenticator: Authenticator
    directory: CellDirectory
    owners: OwnerCache
    database_url: str


def create_app(
    settings: TopologySettings | None = None, *, cluster: Cluster | None = None
) -> FastAPI:
    """The app; the cluster comes from `cluster` or from `settings.cluster_file`."""
    settings = settings or TopologySettings()
    if cluster is None:
        if settings.cluster_file is None:
            raise ValueError("no cluster: set CELLSBOT_CLUSTER_FILE or pass --cluster FILE")
        cluster = parse_cluster(
            settings.cluster_file.read_text(), source=str(settings.cluster_file)
        )
    register_secrets(*(caller.token for caller in cluster.callers))
    register_url(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.database_url or await asyncio.to_thread(embedded_url, settings.embedded_dir)
        await asyncio.to_thread(apply_migrations, url)
        pool = AsyncConnectionPool(  # autocommit: a read is one round trip, not three;
            url,  # writes open their transaction explicitly (in_transaction)
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.pool_timeout,
            # a connection PostgreSQL closed (a restart, a failover) is replaced, not handed out
            check=AsyncConnectionPool.check_connection,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open(wait=True)
        async with pool.connection() as conn, conn.transaction():
            await repository.sync_cluster(conn, cluster)
        app.state.topology = TopologyState(
            settings=settings,
            cluster=cluster,
            pool=pool,
            authenticator=Authenticator(cluster.callers),
            directory=CellDirectory(settings.cells_ttl),
            owners=OwnerCache(settings.claim_owner_ttl),
            database_url=url,
        )
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="cellsbot Topology Service",
        version="1",
        summary="Cells, sequence ranges, lease-based claims, request classification and rollouts.",
        lifespan=lifespan,
        telemetry=tracing.fastapi_telemetry(),
    )
    errors.install(app)
    metrics = TopologyMetrics()
    app.state.metrics = metrics
    app.add_middleware(ObservedRequests, metrics=metrics)
    from topology.api.routes import (  # noqa: PLC0415
        admin,
        cells,
        claims,
        classify,
        health,
        rollouts,
    )

    for module in (classify, health, cells, claims, admin, rollouts):  # the hot route first
        app.include_router(module.router)
    app.add_route("/metrics", metrics.endpoint(), methods=["GET"], include_in_schema=False)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, with our error answers (google.rpc.Status, never a 422) and the
    bearer token every /v1 route needs."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    components = spec.setdefault("components", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.get("schemas", {}).pop(name, None)
    for model in (schemas.Status, *BODY_MODELS):  # in no route's signature
        found = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        components["schemas"].update(found.pop("$defs", {}))
        components["schemas"][model.__name__] = found
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    error = {
        "description": "an error: google.rpc.Status with an ErrorInfo reason",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Status"}}},
    }
    for path, methods in spec["paths"].items():
        for operation in methods.values():
            operation["responses"].pop("422", None)
            if path.startswith("/v1"):
                operation["security"] = [{"bearer": []}]
                operation["responses"]["4XX"] = error
    app.openapi_schema = spec
    return spec


def state(request: Request) -> TopologyState:
    return request.app.state.topology
