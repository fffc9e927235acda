"""Checks of an AsyncAPI 3.0 document, shared by the unit and integration tests.

The AsyncAPI 3.0.0 JSON Schema is the official one (``schemas/3.0.0.json`` of the npm package
``@asyncapi/specs`` 6.11.1, Apache-2.0, tests/vendor/asyncapi/LICENSE), vendored because no
PyPI package carries it. Besides that schema: every ``$ref`` resolves, and an operation's
messages are messages of its channel (the spec's rule, which the JSON Schema cannot say).
:class:`MessageValidator` validates frames against a message's payload schema (jsonschema).
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

VENDORED = Path(__file__).resolve().parent / "vendor" / "asyncapi" / "asyncapi-3.0.0.json"


@cache
def _spec_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(VENDORED.read_text()))


def pointer(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def asyncapi_errors(doc: dict[str, Any]) -> list[str]:
    """Why ``doc`` is not a valid AsyncAPI 3.0 document (empty: it is)."""
    errors = [f"{e.json_path}: {e.message[:200]}" for e in _spec_validator().iter_errors(doc)]

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    pointer(doc, ref)
                except (KeyError, TypeError, AssertionError):
                    errors.append(f"{path}: $ref {ref} does not resolve")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(doc, "$")
    for op_id, op in doc.get("operations", {}).items():
        channel = op["channel"]["$ref"]
        refs = [m["$ref"] for m in op.get("messages", [])]
        if "reply" in op:
            refs += [m["$ref"] for m in op["reply"].get("messages", [])]
        for ref in refs:
            if not ref.startswith(channel + "/messages/"):
                errors.append(f"operations.{op_id}: message {ref} is not one of {channel}'s")
    return errors


class MessageValidator:
    """Validates frames against the payload schema of the document's messages, by message name."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.messages: dict[str, Any] = next(iter(doc["channels"].values()))["messages"]

    def errors(self, message: str, frame: Any) -> list[str]:
        payload = self.messages[message]["payload"]
        schema = {**payload, "components": self.doc["components"]}  # refs resolve against the document
        return [f"{e.json_path}: {e.message[:300]}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(frame)]

    def reply_errors(self, operation: str, frame: Any) -> list[str]:
        """Errors when ``frame`` is none of the replies of ``operation`` (response, error, dry run)."""
        found: list[str] = []
        for ref in self.doc["operations"][operation]["reply"]["messages"]:
            name = ref["$ref"].rsplit("/", 1)[1]
            errs = self.errors(name, frame)
            if not errs:
                return []
            found += [f"{name}: {e}" for e in errs]
        return found
