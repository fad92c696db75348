"""Charts in Azure ML's schemas (confusion matrix, accuracy table, predictions, residuals), as JSON for the core.

Each chart is a dict (or its JSON text) ``{"schema_type": ..., "schema_version": ..., "data": {...}}`` as Azure's
``log_confusion_matrix`` & co. take it. The core (``runlog_wire::chart``) checks it against its schema before anything
is stored and raises ``ValueError`` naming the field; here a dict built with numpy becomes plain JSON.
"""

from __future__ import annotations

import json
from typing import Any


def _jsonable(x: Any) -> Any:
    """numpy arrays and scalars as plain lists and numbers (so a chart built with numpy validates and stores)."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "tolist") and hasattr(x, "dtype"):
        return _jsonable(x.tolist())
    return x


def to_json(kind: str, name: str, value: Any) -> str:
    """The chart as JSON text, or TypeError for a value that is neither a dict nor JSON text, ValueError for a
    non-finite number (which JSON cannot hold)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise TypeError(
            f"{kind.replace('_', ' ')} {name!r} must be a dict or a JSON string in Azure's {kind} schema, "
            f"not {type(value).__name__}"
        )
    try:
        return json.dumps(_jsonable(value), allow_nan=False)
    except ValueError:
        raise ValueError(f"{kind.replace('_', ' ')} {name!r} holds NaN or an infinity; chart values must be finite") from None
    except TypeError as e:
        raise TypeError(f"{kind.replace('_', ' ')} {name!r} holds a value JSON cannot hold: {e}") from None


def from_json(text: str) -> dict[str, Any]:
    """A stored chart document as a dict."""
    doc: dict[str, Any] = json.loads(text)
    return doc
