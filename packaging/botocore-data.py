"""Trims botocore's data to what the function uses, at image build time.

botocore ships the models of every AWS service, about 450 directories and 26 MB. In a cold start
the first client lists them all (a scan of every service directory, to learn which services
exist), and the S3 client reads the whole S3 model (116 operations) to call two. What stays:

- every top-level file (endpoints, partitions, retry rules, default configuration);
- the directories of the services the function makes clients for (``SERVICES``), no other;
- of the S3 model, only the operations the function calls (``S3_OPERATIONS``) and the ones botocore
  calls by itself (HeadBucket for a bucket's region after a redirect, CreateSession for directory
  buckets), with every shape they reach;
- no documentation strings in the kept models' operations and shapes (docstrings only).

A client for any other service fails with ``UnknownServiceError``, at once; the unit tests check
that the function's clients and S3 calls are the ones kept here.

    python botocore-data.py [DATA_DIR]     (default: the installed botocore's data directory)
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

SERVICES = ("dynamodb", "events", "s3")
S3_OPERATIONS = ("GetObject", "PutObject", "HeadBucket", "CreateSession")
MODEL = "service-2.json.gz"


def reachable_shapes(model: dict[str, Any], operations: tuple[str, ...]) -> set[str]:
    """Every shape the operations' inputs, outputs and errors refer to, transitively."""
    found: set[str] = set()
    pending = [
        ref["shape"]
        for name in operations
        for ref in (
            model["operations"][name].get("input"),
            model["operations"][name].get("output"),
            *model["operations"][name].get("errors", ()),
        )
        if ref
    ]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.add(name)
        shape = model["shapes"][name]
        refs = [shape[key] for key in ("member", "key", "value") if key in shape]
        pending += [ref["shape"] for ref in (*refs, *shape.get("members", {}).values())]
    return found


def trimmed(model: dict[str, Any], operations: tuple[str, ...] | None) -> dict[str, Any]:
    """``model`` with only ``operations`` (all when None) and the shapes they reach, their
    documentation left out (the rest of the model, client parameters included, as it was)."""
    names = tuple(model["operations"]) if operations is None else operations
    shapes = reachable_shapes(model, names) if operations is not None else set(model["shapes"])
    return {
        **model,
        "operations": {name: without_documentation(model["operations"][name]) for name in names},
        "shapes": {
            name: without_documentation(shape)
            for name, shape in model["shapes"].items()
            if name in shapes
        },
    }


def without_documentation(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: without_documentation(item)
            for key, item in value.items()
            if key not in ("documentation", "documentationUrl")
        }
    if isinstance(value, list):
        return [without_documentation(item) for item in value]
    return value


def trim(data: Path) -> None:
    for directory in data.iterdir():
        if directory.is_dir() and directory.name not in SERVICES:
            shutil.rmtree(directory)
    for service in SERVICES:
        for path in (data / service).glob(f"*/{MODEL}"):
            operations = S3_OPERATIONS if service == "s3" else None
            with gzip.open(path, "rb") as source:
                model = json.loads(source.read(), object_pairs_hook=OrderedDict)
            payload = json.dumps(trimmed(model, operations), separators=(",", ":")).encode()
            with gzip.open(path, "wb") as target:
                target.write(payload)


def main() -> None:
    if len(sys.argv) > 1:
        data = Path(sys.argv[1])
    else:
        import botocore

        data = Path(botocore.__file__).parent / "data"
    trim(data)


if __name__ == "__main__":
    main()
