"""A succeeded job's activation policy, applied by the server (which holds the registry) once the
job's worker has stored the version: `never`, `always`, or `if_better`. The outcome is recorded
in the job; a job whose outcome is missing after a crash is decided again at start-up."""

from __future__ import annotations

from typing import Any

from app.core.errors import ServiceError
from app.registry.models import ModelRegistry
from app.training.store import Job, JobStore
from model.evaluation import baseline, validation_mse
from model.train_loop import TrainParams, split_data


def apply_policy(job: Job, registry: ModelRegistry, jobs: JobStore) -> dict[str, Any]:
    """Decide, activate when the policy says so, record the outcome; blocking."""
    outcome = _decide(job, registry, jobs)
    jobs.set_activation(job.id, outcome)
    return outcome


def _decide(job: Job, registry: ModelRegistry, jobs: JobStore) -> dict[str, Any]:
    policy, version = job.spec["activate"], job.model_version
    outcome: dict[str, Any] = {"policy": policy, "val_mse": (job.result or {}).get("val_mse")}
    if policy == "never" or version is None:
        return {
            **outcome,
            "state": "not_activated",
            "reason": "the policy is never: activate the version by hand",
        }
    reason = "the policy is always"
    if policy == "if_better":
        better, reason, compared = _compare(job, version, registry, jobs)
        outcome.update(compared)
        if not better:
            return {**outcome, "state": "not_activated", "reason": reason}
    try:
        registry.activate(version)
    except ServiceError as exc:
        return {**outcome, "state": "not_activated", "reason": f"activation failed: {exc}"}
    return {**outcome, "state": "activated", "reason": reason}


def _compare(
    job: Job, version: str, registry: ModelRegistry, jobs: JobStore
) -> tuple[bool, str, dict[str, Any]]:
    """(better?, why, the numbers compared) against the version active now."""
    active = registry.active
    if active is None:
        return True, "no version was active", {}
    result = job.result or {}
    scored = result.get("baseline") or {}
    if scored.get("version") == active.version:  # the worker scored the version active now
        new_mse, active_mse, why = result["val_mse"], scored["val_mse"], scored["reason"]
    else:  # the active version changed meanwhile: score both here, on the same split
        data = jobs.read_data(job)
        _, val = split_data(data, TrainParams(**job.spec["training"]))
        assert val is not None  # if_better jobs have a validation split (checked at submission)
        new_mse = validation_mse(registry.get(version).predictor, val)
        scored = baseline(active.version, active.predictor, val)
        active_mse, why = scored["val_mse"], scored["reason"]
    compared = {"compared_with": active.version, "val_mse": new_mse, "active_val_mse": active_mse}
    if active_mse is None:
        return False, f"version {active.version} is {why}; activate by hand", compared
    better = new_mse < active_mse
    relation = "beats" if better else "does not beat"
    reason = f"validation MSE {new_mse:.6g} {relation} {active_mse:.6g} of version {active.version}"
    return better, reason, compared
