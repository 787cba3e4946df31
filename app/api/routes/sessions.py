"""Streaming sessions kept by the server."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.dependencies import InferenceOwner, SessionsDep
from app.api.errors import responses
from app.protocol.v1.schemas import SESSION_ID_PATTERN

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@router.delete(
    "/{session_id}",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422, 503),
)
async def delete_session(
    session_id: Annotated[str, Path(pattern=SESSION_ID_PATTERN)],
    owner: InferenceOwner,
    sessions: SessionsDep,
) -> Response:
    """End a session and forget its state (with inference keys: a session of the request's key)."""
    await sessions.delete(session_id, owner)
    return Response(status_code=204)
