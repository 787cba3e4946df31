"""Every server process serves the version the database says is active: an activation made on
another process (or replica) is swapped in here within `WATCH_INTERVAL_S`, at once on
PostgreSQL's NOTIFY. The new model is loaded before the swap, so no request fails on it."""

from __future__ import annotations

import logging

import anyio.to_thread

from app.registry.models import ModelRegistry

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.25  # the longest a process serves a version another one replaced


async def follow_active(registry: ModelRegistry) -> None:
    """Run until cancelled: swap in the database's active version whenever it changes."""
    db = registry.store.db
    try:
        while True:
            await db.wait_for_activation(WATCH_INTERVAL_S)
            try:
                await _follow_once(registry)
            except Exception:  # the database or the checkpoint is unreachable for now
                logger.exception("cannot follow the active model version; retrying")
    finally:
        await db.stop_listening()


async def _follow_once(registry: ModelRegistry) -> None:
    version = await anyio.to_thread.run_sync(registry.store.active_version)
    active = registry.active
    if version is None or (active is not None and active.version == version):
        return
    await anyio.to_thread.run_sync(registry.follow, version)
    logger.info("now serving version %s, activated by another process", version)
