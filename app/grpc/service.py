"""`inference.GRPCInferenceService`: the Open Inference Protocol over gRPC, the same calls as the
/v2 REST routes (app/api/routes/v2.py) on the same pipeline: health, server and model metadata,
infer, and Triton's streaming infer, whose responses follow the requests in order and carry each
request's error in `error_message` while the stream goes on.

Every call is one access line and one count in the request metrics (route
`grpc:/inference.GRPCInferenceService/<Method>`, method `GRPC`, status the gRPC code's number),
with a request id from the `x-request-id` metadata when sane, else a new one. Infer calls need
`authorization: Bearer <key>` when the server has inference keys, as /v2 does."""

# ruff: noqa: N802 (the methods carry the protocol's RPC names, as the generated base class does)

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import version
from typing import Any, TypeVar

import grpc
import grpc.aio

from app.core.errors import NotReady, UnknownModel, UnknownModelVersion
from app.core.inference_keys import InferenceKeys, Owner
from app.core.settings import Settings
from app.grpc.errors import Status, status_of
from app.observability.logs import request_id, request_id_var
from app.observability.metrics import Metrics
from app.protocol.v2 import grpc as wire
from app.protocol.v2.lstm import (
    inputs_metadata,
    outputs,
    outputs_metadata,
    predict_input,
    session_step,
    wanted_outputs,
)
from app.protocol.v2.proto import grpc_predict_v2_pb2 as pb
from app.protocol.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from app.serving import pipeline
from app.serving.services import Services

SERVICE = "inference.GRPCInferenceService"
EXTENSIONS = ["sequence"]

access_logger = logging.getLogger("app.access")
Result = TypeVar("Result")


# The generated base class is untyped (Any to mypy); it answers UNIMPLEMENTED for the RPCs not
# defined here (RepositoryModelLoad, RepositoryModelUnload).
class InferenceService(pb_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(
        self, services: Services, keys: InferenceKeys, settings: Settings, metrics: Metrics
    ) -> None:
        self.services = services
        self.keys = keys
        self.settings = settings
        self.metrics = metrics
        self.version = version("lstm-serve")

    async def ServerLive(self, request: Any, context: Any) -> pb.ServerLiveResponse:
        return await self._call("ServerLive", context, _constant(pb.ServerLiveResponse(live=True)))

    async def ServerReady(self, request: Any, context: Any) -> pb.ServerReadyResponse:
        async def ready() -> pb.ServerReadyResponse:
            if self.services.registry.active is None:
                raise NotReady("no model is loaded yet")
            return pb.ServerReadyResponse(ready=True)

        return await self._call("ServerReady", context, ready)

    async def ModelReady(self, request: Any, context: Any) -> pb.ModelReadyResponse:
        async def ready() -> pb.ModelReadyResponse:
            self._check_name(request.name)
            await pipeline.model_for(self.services.registry, request.version or None)
            return pb.ModelReadyResponse(ready=True)

        return await self._call("ModelReady", context, ready)

    async def ServerMetadata(self, request: Any, context: Any) -> pb.ServerMetadataResponse:
        answer = pb.ServerMetadataResponse(
            name="lstm-serve", version=self.version, extensions=EXTENSIONS
        )
        return await self._call("ServerMetadata", context, _constant(answer))

    async def ModelMetadata(self, request: Any, context: Any) -> pb.ModelMetadataResponse:
        async def metadata() -> pb.ModelMetadataResponse:
            self._check_name(request.name)
            registry = self.services.registry
            if request.version:
                stored = registry.store.get(request.version)
                if stored is None:
                    raise UnknownModelVersion(f"no model version {request.version!r}")
                config = stored.config
            else:
                config = registry.get(None).predictor.config
            return pb.ModelMetadataResponse(
                name=request.name,
                versions=[stored.version for stored in registry.store.versions()],
                platform=registry.backend,
                inputs=wire.tensors_metadata(inputs_metadata(config)),
                outputs=wire.tensors_metadata(outputs_metadata(config)),
            )

        return await self._call("ModelMetadata", context, metadata)

    async def ModelInfer(self, request: Any, context: Any) -> pb.ModelInferResponse:
        async def infer() -> pb.ModelInferResponse:
            return await self._infer(request, self._owner(context))

        return await self._call("ModelInfer", context, infer)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[Any], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """One answer per request, in order; a request's error is its answer's error_message
        (Triton's behaviour), a missing or wrong key ends the stream with its status."""
        try:
            owner = self._owner(context)
        except Exception as exc:  # the stream's one check: a missing or wrong key
            code, message = status_of(exc)
            self._record(
                "ModelStreamInfer", context, code, time.perf_counter(), _request_id(context)
            )
            await context.abort(code, message)
        async for request in requests:
            started = time.perf_counter()
            request_id = _request_id(context)
            token = request_id_var.set(request_id)
            try:
                response = await self._infer(request, owner)
                status = Status(grpc.StatusCode.OK, "")
                yield pb.ModelStreamInferResponse(infer_response=response)
            except Exception as exc:
                status = status_of(exc)
                yield pb.ModelStreamInferResponse(error_message=status.message)
            finally:
                self._record("ModelStreamInfer", context, status.code, started, request_id)
                request_id_var.reset(token)

    async def _infer(self, message: Any, owner: Owner) -> pb.ModelInferResponse:
        """The same steps as /v2's infer once the tensors are read (app/api/routes/v2.py)."""
        self._check_name(message.model_name)
        version = message.model_version or None
        received = wire.read_request(message)
        step = session_step(received.request.parameters)
        step = None if step is None else step._replace(owner=owner)
        resolved = await pipeline.model_for(self.services.registry, version)
        wanted = wanted_outputs(received.request, resolved.predictor.config)
        parsed = predict_input(received, resolved.predictor.config, version, wanted)
        model, prediction, _ = await pipeline.predict(parsed, self.services, step, resolved)
        steps = received.tensors["inputs"].shape[1]
        answer = outputs(prediction, wanted, steps)
        return wire.response_message(message.model_name, model.version, message.id, answer)

    def _check_name(self, name: str) -> None:
        if name != self.settings.model_name:
            raise UnknownModel(
                f"unknown model {name!r}; this server serves {self.settings.model_name!r}"
            )

    def _owner(self, context: Any) -> Owner:
        bearer = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                scheme, _, credentials = value.partition(" ")
                bearer = credentials.strip() if scheme.lower() == "bearer" else None
        return self.keys.owner(bearer)

    async def _call(
        self, method: str, context: Any, work: Callable[[], Awaitable[Result]]
    ) -> Result:
        """`work`'s answer, or its error as a status; either way one access line and metric."""
        started = time.perf_counter()
        request_id = _request_id(context)
        token = request_id_var.set(request_id)
        self.metrics.requests_in_flight += 1
        code = grpc.StatusCode.OK
        try:
            return await work()
        except Exception as exc:
            code, message = status_of(exc)
            await context.abort(code, message)
            raise  # context.abort raises; never reached
        finally:
            self.metrics.requests_in_flight -= 1
            self._record(method, context, code, started, request_id)
            request_id_var.reset(token)

    def _record(
        self, method: str, context: Any, code: grpc.StatusCode, started: float, request_id: str
    ) -> None:
        seconds = time.perf_counter() - started
        route = f"grpc:/{SERVICE}/{method}"
        status = code.value[0]
        self.metrics.observe_request(route, "GRPC", status, seconds)
        fields = {
            "method": "GRPC",
            "route": route,
            "path": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "client": context.peer(),
            "request_id": request_id,
        }
        access_logger.info("GRPC %s %s %.1f ms", route, code.name, seconds * 1000, extra=fields)


def _constant(answer: Result) -> Callable[[], Awaitable[Result]]:
    async def constant() -> Result:
        return answer

    return constant


def _request_id(context: Any) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str):
            return request_id(value)
    return request_id(None)
