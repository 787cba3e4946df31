"""Data sets for training: upload an .npz file, a CSV time series or an .npy series once, train
on it by id. The body streams to the disk as it arrives, never held whole."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse

from app.api.dependencies import DatasetsDep, ManagementAuth, SettingsDep, body_media_type
from app.api.errors import responses
from app.core.errors import UnknownDataset, UnsupportedMediaType
from app.protocol.v1.schemas import JOB_ID_PATTERN, DatasetInfo, DatasetList
from app.training.datasets import Dataset, DatasetFormat, DatasetUpload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

DatasetIdPath = Annotated[str, Path(pattern=JOB_ID_PATTERN, description="the data set's id")]
# The body is the file itself: no multipart parser needed, and the size limit applies as it
# streams in (app/api/body_limit.py).
_FORMATS: dict[str, DatasetFormat] = {
    "text/csv": "csv",
    "application/x-npz": "npz",
    "application/zip": "npz",
    "application/octet-stream": "npz",
    "application/x-npy": "npy",
}
WRITE_BYTES = 1 << 20  # the body is written in pieces of this size, each in a worker thread
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the file: a CSV time series with a header row (text/csv), an .npz "
        "with arrays `inputs` (N, T, input_size) and `targets` (application/x-npz), or an .npy "
        "series of shape (rows,) or (rows, F), trained on memory-mapped (application/x-npy)",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-npz": {"schema": {"type": "string", "format": "binary"}},
            "application/x-npy": {"schema": {"type": "string", "format": "binary"}},
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
    """Upload a data set (.npz, CSV or .npy); it is validated before it is stored, within the
    quota."""
    media_type = body_media_type(request.headers)
    kind = _FORMATS.get(media_type)
    if kind is None:
        raise UnsupportedMediaType(
            f"send the file as text/csv, application/x-npz or application/x-npy, not "
            f"{media_type or 'no type'}"
        )
    # After the token check; the body limit (max_dataset_bytes) applies as the body arrives.
    declared = request.headers.get("content-length", "")
    size = int(declared) if declared.isdigit() else 0  # chunked: checked once it has arrived
    upload = await anyio.to_thread.run_sync(datasets.begin, kind, size)
    try:
        await _receive(request, upload)
    except BaseException:
        await anyio.to_thread.run_sync(upload.discard)
        raise
    # A CSV, or a series, may have as many columns as a model may have inputs.
    add = partial(datasets.add, max_columns=settings.max_model_input_size)
    dataset = await anyio.to_thread.run_sync(
        add, upload, settings.max_training_values, settings.max_dataset_bytes
    )
    return JSONResponse(
        _info(dataset).model_dump(),
        status_code=201,
        headers={"Location": f"/v1/datasets/{dataset.id}"},
    )


async def _receive(request: Request, upload: DatasetUpload) -> None:
    """The body into the upload's file, a megabyte at a time, off the event loop."""
    pending = bytearray()
    async for chunk in request.stream():
        pending += chunk
        if len(pending) >= WRITE_BYTES:
            await anyio.to_thread.run_sync(upload.write, bytes(pending))
            pending.clear()
    await anyio.to_thread.run_sync(upload.write, bytes(pending))


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
