#!/usr/bin/env python3
"""Validates every *.json file in a folder against a JSON Schema with Python's jsonschema
(draft 2020-12, FormatChecker on) and prints {"file": true|false, ...} as JSON.

Used by the Swift cross-check test: the Swift validator must decide exactly as this does."""
import json
import pathlib
import sys

import jsonschema
from jsonschema import Draft202012Validator, FormatChecker

schema = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))
checker = FormatChecker()
if "date-time" not in checker.checkers or "date" not in checker.checkers:
    sys.exit("jsonschema's FormatChecker lacks date-time/date (install rfc3339-validator)")
validator = Draft202012Validator(schema, format_checker=checker)
out = {}
for f in sorted(pathlib.Path(sys.argv[2]).glob("*.json")):
    try:
        instance = json.loads(f.read_bytes())
    except ValueError:
        out[f.name] = False
        continue
    out[f.name] = validator.is_valid(instance)
print(json.dumps(out))
