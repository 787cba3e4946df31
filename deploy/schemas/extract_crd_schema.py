"""Turn one version of a CustomResourceDefinition into the JSON Schema file tests/deploy uses.

    python deploy/schemas/extract_crd_schema.py CRD.yaml VERSION SOURCE OUT.json

Takes `spec.versions[name == VERSION].schema.openAPIV3Schema` as it is, then makes it strict the
way `kubectl apply` (server-side field validation, strict by default) treats the resource: every
object schema that lists `properties`, has no `additionalProperties` and does not carry
`x-kubernetes-preserve-unknown-fields: true` gets `additionalProperties: false`, so a misspelt
field fails instead of being pruned without a word. `metadata` stays open here (the CRD says only
`type: object`); the tests check it against Kubernetes' ObjectMeta. `$schema` (draft 7, which
reads the OpenAPI v3 subset a structural schema may use) and a `$comment` naming SOURCE are added
first; the output is compact JSON with one newline at the end.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

DRAFT_7 = "http://json-schema.org/draft-07/schema#"


def strict(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every closed object schema. Walks the
    keywords a structural schema may nest schemas under, so a field that happens to be called
    `properties` is never mistaken for the keyword."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
    for keyword in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(keyword), dict):
            out[keyword] = strict(schema[keyword])
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            out[keyword] = [strict(sub) for sub in schema[keyword]]
    closed = "properties" in schema and "additionalProperties" not in schema
    if closed and not schema.get("x-kubernetes-preserve-unknown-fields", False):
        out["additionalProperties"] = False
    return out


def extract(crd: dict[str, Any], version: str, source: str) -> dict[str, Any]:
    for served in crd["spec"]["versions"]:
        if served["name"] == version and served.get("served", False):
            schema = strict(served["schema"]["openAPIV3Schema"])
            kind = crd["spec"]["names"]["kind"]
            comment = (
                f"{kind} {crd['spec']['group']}/{version}: openAPIV3Schema of {source}, "
                "made strict by deploy/schemas/extract_crd_schema.py"
            )
            return {"$schema": DRAFT_7, "$comment": comment, **schema}
    raise SystemExit(f"no served version {version!r} in {crd['metadata']['name']}")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        raise SystemExit(__doc__)
    crd_path, version, source, out = argv
    crd = yaml.safe_load(Path(crd_path).read_text(encoding="utf-8"))
    schema = extract(crd, version, source)
    text = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
    Path(out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
