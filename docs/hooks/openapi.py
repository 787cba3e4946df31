"""MkDocs hook: the HTTP API reference, generated at build time from the service's OpenAPI schema.

docs/api.md holds the hand-written introduction and the marker below; on every build this hook
replaces the marker with the markdown of `create_app(settings).openapi()`: every path and method,
its parameters, request body and responses, then every schema with its fields. Nothing generated
is committed, so the page cannot drift from the code. `create_app` does no work at construction
(the lifespan loads the model), so this costs a fraction of a second and needs no model.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

MARKER = "<!-- openapi -->"
PAGE = "api.md"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")

Schema = dict[str, Any]


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"docs/{PAGE} lacks the marker {MARKER} that the API reference replaces")
    return markdown.replace(MARKER, Reference(_openapi(config)).markdown())


def _openapi(config: MkDocsConfig) -> Schema:
    root = str(Path(config.config_file_path).resolve().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from app.core.settings import Settings
    from app.main import create_app

    with tempfile.TemporaryDirectory(prefix="lstm-serve-docs-") as data_dir:
        schema: Schema = create_app(Settings(data_dir=Path(data_dir), no_auth=True)).openapi()
    return schema


class Reference:
    """Markdown for one OpenAPI document. Inline object schemas with a title (request bodies
    that FastAPI does not put under components) are listed with the component schemas."""

    def __init__(self, openapi: Schema) -> None:
        self.openapi = openapi
        self.components: dict[str, Schema] = openapi.get("components", {}).get("schemas", {})
        self.inline: dict[str, Schema] = {}

    def markdown(self) -> str:
        operations = self._operations()  # first, so that it collects the inline schemas
        return "\n".join([self._info(), operations, self._schemas()])

    def _info(self) -> str:
        info = self.openapi.get("info", {})
        lines = [f"## {info.get('title', 'API')} {info.get('version', '')}".rstrip(), ""]
        for key in ("summary", "description"):
            if info.get(key):
                lines += [info[key], ""]
        lines += [f"OpenAPI {self.openapi.get('openapi', '')}.", ""]
        schemes = self.openapi.get("components", {}).get("securitySchemes", {})
        if schemes:
            lines += ["| security scheme | type | scheme | description |", "|---|---|---|---|"]
            for name, scheme in schemes.items():
                lines.append(
                    f"| `{name}` | {scheme.get('type', '')} | {scheme.get('scheme', '')} "
                    f"| {_cell(scheme.get('description', ''))} |"
                )
            lines.append("")
        return "\n".join(lines)

    def _operations(self) -> str:
        by_tag: dict[str, list[tuple[str, str, Schema]]] = {}
        for path, item in self.openapi.get("paths", {}).items():
            for method in METHODS:
                if method in item:
                    operation = item[method]
                    tag = (operation.get("tags") or ["other"])[0]
                    by_tag.setdefault(tag, []).append((path, method, operation))
        lines = ["## Operations", ""]
        lines += ["| method | path | summary |", "|---|---|---|"]
        for operations in by_tag.values():
            for path, method, operation in operations:
                anchor = _operation_id(path, method, operation)
                lines.append(
                    f"| {method.upper()} | [`{path}`](#{anchor}) "
                    f"| {_cell(operation.get('summary', ''))} |"
                )
        lines.append("")
        for tag, operations in by_tag.items():
            lines += [f"### {tag}", ""]
            for path, method, operation in operations:
                lines += self._operation(path, method, operation)
        return "\n".join(lines)

    def _operation(self, path: str, method: str, operation: Schema) -> list[str]:
        anchor = _operation_id(path, method, operation)
        lines = [f"#### `{method.upper()} {path}` {{#{anchor}}}", ""]
        if operation.get("summary"):
            lines += [f"**{operation['summary']}**", ""]
        if operation.get("description"):
            lines += [operation["description"].strip(), ""]
        if operation.get("deprecated"):
            lines += ["Deprecated.", ""]
        if operation.get("security"):
            names = ", ".join(f"`{name}`" for entry in operation["security"] for name in entry)
            lines += [f"Security: {names} (`Authorization: Bearer <token>`).", ""]
        lines.append(f"Operation id: `{operation.get('operationId', '')}`.")
        lines.append("")
        parameters = operation.get("parameters", [])
        if parameters:
            lines += [
                "| parameter | in | type | required | default | description |",
                "|---|---|---|---|---|---|",
            ]
            for parameter in parameters:
                schema = parameter.get("schema", {})
                description = parameter.get("description") or schema.get("description", "")
                lines.append(
                    f"| `{parameter['name']}` | {parameter.get('in', '')} | {self._type(schema)} "
                    f"| {'yes' if parameter.get('required') else 'no'} | {_default(schema)} "
                    f"| {_cell(_with_constraints(description, schema))} |"
                )
            lines.append("")
        body = operation.get("requestBody")
        if body:
            required = "required" if body.get("required") else "optional"
            lines += [f"Request body ({required}):", ""]
            if body.get("description"):
                lines += [body["description"], ""]
            lines += ["| content type | schema |", "|---|---|"]
            for content_type, content in body.get("content", {}).items():
                schema = content.get("schema", {})
                described = self._type(schema)
                if not schema.get("$ref") and schema.get("description"):
                    described += f": {schema['description']}"
                lines.append(f"| `{content_type}` | {_cell(described)} |")
            lines.append("")
        responses = operation.get("responses", {})
        if responses:
            lines += ["| status | description | body |", "|---|---|---|"]
            for status, response in responses.items():
                bodies = [
                    f"`{content_type}`: {self._type(content.get('schema', {}))}"
                    for content_type, content in response.get("content", {}).items()
                ]
                lines.append(
                    f"| {status} | {_cell(response.get('description', ''))} "
                    f"| {_cell('; '.join(bodies)) or 'none'} |"
                )
            lines.append("")
        return lines

    def _schemas(self) -> str:
        rendered: dict[str, list[str]] = {}
        # Rendering a schema may find more inline ones, so loop until none is left.
        while True:
            pending = {**self.components, **self.inline}
            names = [name for name in pending if name not in rendered]
            if not names:
                break
            for name in names:
                rendered[name] = self._schema(name, pending[name])
        lines = ["## Schemas", ""]
        for name in sorted(rendered, key=str.lower):
            lines += rendered[name]
        return "\n".join(lines)

    def _schema(self, name: str, schema: Schema) -> list[str]:
        origin = "" if name in self.components else " (inline in a request body)"
        lines = [f"### {name} {{#{_schema_id(name)}}}", ""]
        if origin:
            lines += [f"Not a component schema{origin}.", ""]
        if schema.get("description"):
            lines += [schema["description"].strip(), ""]
        properties: dict[str, Schema] = schema.get("properties", {})
        if properties:
            required = set(schema.get("required", []))
            lines += [
                "| field | type | required | default | description |",
                "|---|---|---|---|---|",
            ]
            for field, field_schema in properties.items():
                description = _with_constraints(field_schema.get("description", ""), field_schema)
                lines.append(
                    f"| `{field}` | {self._type(field_schema)} "
                    f"| {'yes' if field in required else 'no'} | {_default(field_schema)} "
                    f"| {_cell(description)} |"
                )
            lines.append("")
            extra = schema.get("additionalProperties")
            if extra is False:
                lines += ["Unknown fields are refused.", ""]
        else:
            lines += [f"Type: {self._type(schema, top=True)}.", ""]
        if schema.get("enum"):
            lines += ["Values: " + ", ".join(f"`{json.dumps(v)}`" for v in schema["enum"]), ""]
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            lines += ["Example:", "", "```json", json.dumps(examples[0]), "```", ""]
        return lines

    def _type(self, schema: Schema, *, top: bool = False) -> str:
        """A short description of a schema's type, with links to named schemas."""
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return f"[{name}](#{_schema_id(name)})"
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                joiner = " and " if key == "allOf" else " or "
                return joiner.join(self._type(part) for part in schema[key])
        if "const" in schema:
            return f"`{json.dumps(schema['const'])}`"
        if "enum" in schema and not top:
            return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return " or ".join(self._type({**schema, "type": one}) for one in kind)
        if kind == "array":
            items = schema.get("items")
            return f"array of {self._type(items)}" if items else "array"
        if kind == "object" or "properties" in schema:
            title = schema.get("title")
            if title and schema.get("properties") and not top:
                if title not in self.components:
                    self.inline.setdefault(title, schema)
                return f"[{title}](#{_schema_id(title)})"
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return f"object of {self._type(extra)}"
            return "object"
        if kind is None:
            return "any"
        if schema.get("format"):
            return f"{kind} ({schema['format']})"
        return str(kind)


def _operation_id(path: str, method: str, operation: Schema) -> str:
    name = operation.get("operationId") or f"{method}-{path}"
    return "op-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _schema_id(name: str) -> str:
    return "schema-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _default(schema: Schema) -> str:
    return f"`{json.dumps(schema['default'])}`" if "default" in schema else ""


CONSTRAINTS = {
    "minimum": ">= {}",
    "exclusiveMinimum": "> {}",
    "maximum": "<= {}",
    "exclusiveMaximum": "< {}",
    "minLength": "at least {} character(s)",
    "maxLength": "at most {} character(s)",
    "minItems": "at least {} item(s)",
    "maxItems": "at most {} item(s)",
    "pattern": "matches `{}`",
}


def _with_constraints(description: str, schema: Schema) -> str:
    """The description, then the constraints of the schema (or of its non-null alternative)."""
    found: list[str] = []
    for part in [schema, *schema.get("anyOf", [])]:
        for key, template in CONSTRAINTS.items():
            if key in part:
                found.append(template.format(part[key]))
    if not found:
        return description
    constraints = "; ".join(found)
    return f"{description} ({constraints})" if description else constraints


def _cell(text: str) -> str:
    """Text for one table cell: one line, `|` escaped, `<` and `>` shown as written (outside
    code spans, where markdown would read them as HTML)."""
    parts = " ".join(str(text).split()).split("`")
    for index in range(0, len(parts), 2):  # the even parts are outside code spans
        parts[index] = parts[index].replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)
