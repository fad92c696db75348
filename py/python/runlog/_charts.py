"""Validation of Azure ML's chart schemas (confusion matrix, accuracy table, predictions, residuals).

Each chart is a dict (or its JSON text) ``{"schema_type": ..., "schema_version": ..., "data": {...}}`` as Azure's
``log_confusion_matrix`` & co. take it. A chart that does not fit its schema raises ``ValueError`` naming the field,
before anything is stored.
"""

from __future__ import annotations

import json
import math
from typing import Any

# schema_type -> (the data fields it needs)
SCHEMAS: dict[str, tuple[str, ...]] = {
    "confusion_matrix": ("class_labels", "matrix"),
    "accuracy_table": (
        "probability_tables",
        "percentile_tables",
        "probability_thresholds",
        "percentile_thresholds",
        "class_labels",
    ),
    "predictions": ("bin_averages", "bin_errors", "bin_counts", "bin_edges"),
    "residuals": ("bin_edges", "bin_counts"),
}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _numbers(what: str, xs: Any) -> list[float]:
    if not isinstance(xs, list):
        raise ValueError(f"{what} must be a list of numbers, not {type(xs).__name__}")
    for i, x in enumerate(xs):
        if not _is_number(x):
            raise ValueError(f"{what}[{i}] must be a number, not {type(x).__name__} {x!r}")
    return xs


def _shape(what: str, xs: Any, dims: tuple[int, ...]) -> None:
    """Checks that xs is nested lists of numbers of exactly the shape dims."""
    if len(dims) == 1:
        _numbers(what, xs)
        if len(xs) != dims[0]:
            raise ValueError(f"{what} has {len(xs)} values, the schema needs {dims[0]}")
        return
    if not isinstance(xs, list) or len(xs) != dims[0]:
        n = len(xs) if isinstance(xs, list) else type(xs).__name__
        raise ValueError(f"{what} has {n} entries, the schema needs {dims[0]}")
    for i, x in enumerate(xs):
        _shape(f"{what}[{i}]", x, dims[1:])


def _jsonable(x: Any) -> Any:
    """numpy arrays and scalars as plain lists and numbers (so a chart built with numpy validates and stores)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist") and hasattr(x, "dtype"):
        return _jsonable(x.tolist())
    return x


def validate(kind: str, name: str, value: Any) -> dict[str, Any]:
    """The chart as a checked dict, or ValueError / TypeError saying what does not fit Azure's schema."""
    what = f"{kind.replace('_', ' ')} {name!r}"
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise ValueError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be a dict or a JSON string in Azure's {kind} schema, not {type(value).__name__}")
    value = _jsonable(value)
    missing = [f for f in ("schema_type", "schema_version", "data") if f not in value]
    if missing:
        raise ValueError(
            f"{what} is missing {', '.join(repr(m) for m in missing)}; Azure's {kind} schema needs "
            f"'schema_type', 'schema_version' and 'data'"
        )
    if value["schema_type"] != kind:
        raise ValueError(f"{what} has schema_type {value['schema_type']!r}, expected {kind!r}")
    if not isinstance(value["schema_version"], str) or not value["schema_version"]:
        raise ValueError(f"{what}: schema_version must be a non-empty string like '1.0.0'")
    data = value["data"]
    if not isinstance(data, dict):
        raise ValueError(f"{what}: 'data' must be an object, not {type(data).__name__}")
    absent = [f for f in SCHEMAS[kind] if f not in data]
    if absent:
        raise ValueError(
            f"{what}: 'data' is missing {', '.join(repr(a) for a in absent)} (the {kind} schema needs "
            f"{', '.join(SCHEMAS[kind])})"
        )
    d = f"{what}: data"
    if kind == "confusion_matrix":
        labels = data["class_labels"]
        if not isinstance(labels, list) or not labels:
            raise ValueError(f"{d}.class_labels must be a non-empty list")
        n = len(labels)
        _shape(f"{d}.matrix", data["matrix"], (n, n))
    elif kind == "accuracy_table":
        labels = data["class_labels"]
        if not isinstance(labels, list) or not labels:
            raise ValueError(f"{d}.class_labels must be a non-empty list")
        pth = _numbers(f"{d}.probability_thresholds", data["probability_thresholds"])
        pct = _numbers(f"{d}.percentile_thresholds", data["percentile_thresholds"])
        _shape(f"{d}.probability_tables", data["probability_tables"], (len(labels), len(pth), 4))
        _shape(f"{d}.percentile_tables", data["percentile_tables"], (len(labels), len(pct), 4))
    elif kind == "predictions":
        counts = data["bin_counts"]
        edges = _numbers(f"{d}.bin_edges", data["bin_edges"])
        if "class_labels" in data:
            labels = data["class_labels"]
            if not isinstance(labels, list) or not labels:
                raise ValueError(f"{d}.class_labels must be a non-empty list")
            nbins = len(edges) - 1
            for f in ("bin_averages", "bin_errors", "bin_counts"):
                _shape(f"{d}.{f}", data[f], (len(labels), nbins))
        else:
            _numbers(f"{d}.bin_counts", counts)
            if len(edges) != len(counts) + 1:
                raise ValueError(f"{d}.bin_edges has {len(edges)} edges for {len(counts)} bins; it needs {len(counts) + 1}")
            for f in ("bin_averages", "bin_errors"):
                _shape(f"{d}.{f}", data[f], (len(counts),))
    elif kind == "residuals":
        counts = _numbers(f"{d}.bin_counts", data["bin_counts"])
        edges = _numbers(f"{d}.bin_edges", data["bin_edges"])
        if len(edges) != len(counts) + 1:
            raise ValueError(f"{d}.bin_edges has {len(edges)} edges for {len(counts)} bins; it needs {len(counts) + 1}")
    for k, v in data.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{d}.{k} is {v}; chart values must be finite")
    checked: dict[str, Any] = value
    return checked
