"""The OpenAPI description of the predict request, which the route reads itself (so FastAPI does
not describe it): a JSON body of the PredictRequest schema, or a binary `.npy` or `.npz` body
with the options in the query string."""

from __future__ import annotations

from typing import Any

from app.protocol.v1.schemas import PredictOptions, PredictRequest

NPY_TYPE, NPZ_TYPE = "application/x-npy", "application/x-npz"
# JSON bodies larger than this are parsed in a worker thread, off the event loop; smaller ones
# inline, where a thread hop would cost more than the parse.
INLINE_PARSE_BYTES = 64 * 1024

_NPY = "one dense (B, T, input_size) array, float32 or float64"
_NPZ = (
    "arrays `inputs` (B, T, input_size), and optionally `lengths` (B,) integers for ragged "
    "batches (steps past a length are ignored), `h` and `c` (num_layers, B, hidden_size)"
)


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its local `$defs` references replaced by the definitions themselves."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return resolve(definitions[reference.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _binary(description: str) -> dict[str, Any]:
    return {"schema": {"type": "string", "format": "binary", "description": description}}


def _query_parameters() -> list[dict[str, Any]]:
    parameters = []
    for name, field in PredictOptions.model_json_schema()["properties"].items():
        schema = field.get("anyOf", [field])[0]  # the value itself: a query has no null
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": f"{field['description']} (binary bodies only; JSON has it inside)",
                "schema": {key: value for key, value in schema.items() if key != "examples"},
            }
        )
    return parameters


PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inlined(PredictRequest.model_json_schema())},
            NPY_TYPE: _binary(_NPY),
            NPZ_TYPE: _binary(_NPZ),
        },
    },
    "parameters": _query_parameters(),
}
