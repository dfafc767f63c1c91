#!/usr/bin/env python3
"""Validates plan files against Ferry's plan JSON Schema with an independent validator.

Usage: scripts/validate-plans.py SCHEMA FILE...
SCHEMA is the output of `ferry schema`. Checks that SCHEMA is a valid draft 2020-12 schema, then
prints one line per FILE: `ok FILE` or `invalid FILE: PATH: MESSAGE` (the first error, by path).
Exit 0 when every file is valid, 1 when any is not, 2 on a bad schema or unreadable input.
Needs python3-jsonschema (Debian) or jsonschema (PyPI), version 4 or later.
"""
import json
import sys

try:
    from jsonschema import Draft202012Validator
except ImportError as error:  # pragma: no cover - reported to the caller
    print(f"validate-plans.py: {error}: install python3-jsonschema (scripts/install-deps.sh)", file=sys.stderr)
    sys.exit(2)


def main(arguments):
    if len(arguments) < 1:
        print(__doc__, file=sys.stderr)
        return 2
    with open(arguments[0], encoding="utf-8") as handle:
        schema = json.load(handle)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    failed = False
    for path in arguments[1:]:
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"unreadable {path}: {error}")
            failed = True
            continue
        errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            where = ".".join(map(str, errors[0].absolute_path)) or "(document)"
            print(f"invalid {path}: {where}: {errors[0].message}")
            failed = True
        else:
            print(f"ok {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
