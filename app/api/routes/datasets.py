"""Data sets for training: upload an .npz file or a CSV time series once, train on it by id."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from app.api.dependencies import DatasetsDep, ManagementAuth, SettingsDep
from app.api.errors import responses
from app.core.errors import UnknownDataset, UnsupportedMediaType
from app.protocol.v1.schemas import JOB_ID_PATTERN, DatasetInfo, DatasetList
from app.training.datasets import Dataset

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

DatasetIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the data set's id")]
# The body is the file itself: no multipart parser needed, and the size limit applies as it
# streams in (app/api/body_limit.py).
_FORMATS: dict[str, Literal["npz", "csv"]] = {
    "text/csv": "csv",
    "application/x-npz": "npz",
    "application/zip": "npz",
    "application/octet-stream": "npz",
}
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the file: a CSV time series with a header row (text/csv), or an .npz "
        "with arrays `inputs` (N, T, input_size) and `targets` (application/x-npz)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-npz": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _info(dataset: Dataset) -> DatasetInfo:
    return DatasetInfo(
        id=dataset.id,
        created_at=dataset.created_at,
        format=dataset.format,
        bytes=dataset.bytes,
        sha256=dataset.sha256,
        summary=dataset.summary,
    )


@router.post(
    "",
    status_code=201,
    response_model=DatasetInfo,
    responses=responses(400, 401, 403, 409, 413, 415, 422, 503, 507),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_dataset(
    request: Request, _: ManagementAuth, datasets: DatasetsDep, settings: SettingsDep
) -> JSONResponse:
    """Upload a data set (.npz or CSV); it is validated before it is stored, within the quota."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    kind = _FORMATS.get(media_type)
    if kind is None:
        raise UnsupportedMediaType(
            f"send the file as text/csv or application/x-npz, not {media_type or 'no type'}"
        )
    content = await request.body()  # read after the token check, within max_dataset_bytes
    # A CSV may have as many columns as a model may have inputs.
    add = partial(datasets.add, max_columns=settings.max_model_input_size)
    dataset = await anyio.to_thread.run_sync(
        add, content, kind, settings.max_training_values, settings.max_dataset_bytes
    )
    return JSONResponse(
        _info(dataset).model_dump(),
        status_code=201,
        headers={"Location": f"/v1/datasets/{dataset.id}"},
    )


@router.get("", response_model=DatasetList, responses=responses(503))
async def list_datasets(datasets: DatasetsDep) -> DatasetList:
    """List the uploaded data sets, newest first."""
    found = await anyio.to_thread.run_sync(datasets.all)
    return DatasetList(datasets=[_info(dataset) for dataset in found])


@router.get("/{dataset_id}", response_model=DatasetInfo, responses=responses(404, 422, 503))
async def get_dataset(dataset_id: DatasetIdPath, datasets: DatasetsDep) -> DatasetInfo:
    """Show a data set: format, size, sha256 and what it holds."""
    dataset = await anyio.to_thread.run_sync(datasets.get, dataset_id)
    if dataset is None:
        raise UnknownDataset(f"no data set {dataset_id!r}", ("dataset_id",))
    return _info(dataset)


@router.delete(
    "/{dataset_id}",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422, 503, 507),
)
async def delete_dataset(
    dataset_id: DatasetIdPath, _: ManagementAuth, datasets: DatasetsDep
) -> Response:
    """Delete a data set and its file; jobs already submitted from it keep their own copy."""
    if not await anyio.to_thread.run_sync(datasets.remove, dataset_id):
        raise UnknownDataset(f"no data set {dataset_id!r}", ("dataset_id",))
    return Response(status_code=204)
