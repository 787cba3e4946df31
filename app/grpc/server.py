"""The gRPC server that `lstm-serve serve --grpc-port` runs in the event loop of the HTTP server:
grpcio's asyncio server with the Open Inference Protocol's service and `grpc.health.v1`
(Kubernetes' gRPC probes), bounded as HTTP is: messages at most `max_body_bytes`, calls at once at
most `max_connections`. Stopping marks health NOT_SERVING, refuses new calls and lets the calls
in flight finish for up to `shutdown_timeout_seconds`."""

from __future__ import annotations

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from app.core.errors import StartupError
from app.core.inference_keys import InferenceKeys
from app.core.settings import Settings
from app.grpc.service import SERVICE, InferenceService
from app.observability.metrics import Metrics
from app.protocol.v2.proto import grpc_predict_v2_pb2_grpc as pb_grpc
from app.serving.services import Services


class GrpcServer:
    def __init__(self, server: grpc.aio.Server, health: health.aio.HealthServicer) -> None:
        self.server = server
        self.health = health

    async def stop(self, grace_seconds: float) -> None:
        await self.health.enter_graceful_shutdown()  # probes see NOT_SERVING from here on
        await self.server.stop(grace_seconds)


async def start_grpc_server(
    settings: Settings, services: Services, keys: InferenceKeys, metrics: Metrics
) -> GrpcServer:
    """Listening on settings.host:grpc_port once it returns; StartupError when the port is
    taken."""
    limit = settings.max_body_bytes
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", limit),  # past it: RESOURCE_EXHAUSTED
            ("grpc.max_concurrent_streams", min(settings.max_connections, 1000)),
            # --workers: each worker's server shares the port, as its HTTP socket does; one
            # process alone fails start-up on a taken port rather than sharing it.
            ("grpc.so_reuseport", int(settings.workers > 1)),
        ],
        maximum_concurrent_rpcs=settings.max_connections,  # past it: RESOURCE_EXHAUSTED
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceService(services, keys, settings, metrics), server
    )
    checker = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checker, server)
    address = f"{settings.host}:{settings.grpc_port}"
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise StartupError(f"cannot listen for gRPC on {address}: {exc}") from exc
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", SERVICE):  # the server as a whole, and the inference service
        await checker.set(name, serving)
    return GrpcServer(server, checker)
