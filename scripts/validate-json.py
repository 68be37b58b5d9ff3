#!/usr/bin/env python3
"""Validates framescope's JSON output against the schemas in docs/schema/.

Usage: validate-json.py SCHEMA FILE...   (SCHEMA: analyze, analyze-jsonl,
detect, flows or replay; a FILE of the jsonl schema is checked line by line).
Exits 1 naming the file, line and path of the first violation.
Needs Python's jsonschema (scripts/deps.sh --test installs it).
"""
import json
import pathlib
import sys

import jsonschema

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "schema"


def load(name):
    """The schema, with analyze.schema.json's definitions inlined so that
    no reference leaves the document (any jsonschema version resolves it)."""
    schema = json.loads((DOCS / f"{name}.schema.json").read_text())
    defs = json.loads((DOCS / "analyze.schema.json").read_text())["$defs"]
    text = json.dumps(schema).replace('"analyze.schema.json#/$defs/', '"#/$defs/')
    schema = json.loads(text)
    schema.setdefault("$defs", {}).update({k: v for k, v in defs.items() if k not in schema["$defs"]})
    return schema


def main():
    name, files = sys.argv[1], sys.argv[2:]
    validator = jsonschema.Draft202012Validator(load(name))
    checked = 0
    for f in files:
        text = pathlib.Path(f).read_text()
        docs = text.splitlines() if name == "analyze-jsonl" else [text]
        for n, doc in enumerate(docs, 1):
            for error in validator.iter_errors(json.loads(doc)):
                path = "/".join(str(p) for p in error.absolute_path)
                print(f"{f}:{n}: /{path}: {error.message}")
                sys.exit(1)
            checked += 1
    print(f"{checked} documents valid against {name}")


if __name__ == "__main__":
    main()
