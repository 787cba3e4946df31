"""Prometheus metrics, served at `/metrics` (app/api/routes/operations.py).

Each app has its own `CollectorRegistry`, so several apps in one process (tests) never share
counters. What happens is counted as it happens: requests (app/api/access_log.py) and the
batches the batcher forms (its `on_batch` callback). What *is* is read at scrape time: the
active model version, training jobs by state and the running jobs' progress (one small query on
the job store), so there is nothing to keep in step.

Each server process reports its own: `lstm_serve_replica_info{replica=...}` names it (a worker
of `--workers`, a replica), and what comes from the shared database (the training queue) is the
same figure on every one of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from app.core.replica import Replica
from app.core.settings import Settings
from app.serving.services import Services

# Seconds, from a fast predict (~1 ms) to a large upload or a long event stream.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Sequences in one forward pass: powers of two up to the default max_batch_sequences.
BATCH_BUCKETS = tuple(float(2**k) for k in range(11))
# Seconds a call waited in the batcher's queue: up to max_batch_delay_ms, more under load.
DELAY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)

ServicesGetter = Callable[[], Services | None]


class Metrics:
    def __init__(self, settings: Settings, services: ServicesGetter) -> None:
        """`services`: what the lifespan built, or None outside it (then only counters show)."""
        # The `_created` series double every counter and histogram and are rarely used.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # the library lacks a hint
        self.registry = registry = CollectorRegistry()
        replica = Info("lstm_serve_replica", "The server process reporting", registry=registry)
        replica.info({"replica": Replica.of(settings).name})
        self.requests = Counter(
            "lstm_serve_requests",
            "HTTP requests answered, by route template, method and status",
            ("route", "method", "status"),
            registry=registry,
        )
        self.request_duration = Histogram(
            "lstm_serve_request_duration_seconds",
            "Time from a request's arrival to the end of its answer",
            ("route", "method"),
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        # The labelled series of each (route, method, status), looked up once: `labels()`
        # takes a lock and builds a key on every call.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        # Requests being handled now: counted by the event loop (HTTP and gRPC alike, both run
        # there) as a plain int, which costs a request less than a gauge's locked update;
        # read at scrape time.
        self.requests_in_flight = 0
        Gauge(
            "lstm_serve_requests_in_flight", "Requests being handled now", registry=registry
        ).set_function(lambda: self.requests_in_flight)
        self.batch_sequences = Histogram(
            "lstm_serve_batch_sequences",
            "Sequences in one forward pass of the dynamic batcher",
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_queue_delay = Histogram(
            "lstm_serve_batch_queue_delay_seconds",
            "Time a predict call waited in the batcher's queue before its forward pass",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.sessions = Gauge(
            "lstm_serve_sessions", "Streaming sessions open (at scrape time)", registry=registry
        )
        ProcessCollector(registry=registry)  # memory, CPU, open files of this process
        PlatformCollector(registry=registry)  # python_info
        registry.register(_ServiceCollector(settings, services))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._request_children.get(key)
        if children is None:  # once per route, method and status: their number is bounded
            children = (
                self.requests.labels(route, method, str(status)),
                self.request_duration.labels(route, method),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_batch(self, sequences: int, delays_s: Sequence[float]) -> None:
        """The batcher's `on_batch`, from a model thread (prometheus_client is thread-safe)."""
        self.batch_sequences.observe(sequences)
        for delay in delays_s:
            self.batch_queue_delay.observe(delay)

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """(body, content type): the Prometheus text format, or OpenMetrics when `accept` (the
        request's Accept header) asks for it, as Prometheus does. Blocking (the job store is
        read): run it in a thread."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class _ServiceCollector(Collector):
    """The state of the service, read at scrape time."""

    def __init__(self, settings: Settings, services: ServicesGetter) -> None:
        self._settings = settings
        self._services = services

    def collect(self) -> Iterable[Metric]:
        services = self._services()
        if services is None:
            return
        model = GaugeMetricFamily(
            "lstm_serve_model_info",
            "The active model version: 1 on its name, version and backend",
            labels=("name", "version", "backend"),
        )
        active = services.registry.active  # one read: a swap may happen at any time
        if active is not None:
            model.add_metric([self._settings.model_name, active.version, self._settings.backend], 1)
        yield model
        yield from _job_metrics(services)


def _job_metrics(services: Services) -> Iterable[Metric]:
    store = services.jobs.jobs
    jobs = GaugeMetricFamily(
        "lstm_serve_training_jobs", "Training jobs in each state", labels=("state",)
    )
    for state, count in store.count_by_state().items():
        jobs.add_metric([state], count)
    yield jobs
    progress = GaugeMetricFamily(
        "lstm_serve_training_progress_ratio",
        "Epochs done over epochs planned, per running training job",
        labels=("job_id",),
    )
    for job in store.in_state("running"):
        done = job.progress or {}
        planned = done.get("epochs") or job.spec.get("training", {}).get("epochs") or 1
        progress.add_metric([job.id], done.get("epoch", 0) / planned)
    yield progress
