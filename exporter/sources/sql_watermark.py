"""Where an SQL source stopped reading: the (timestamp, id) watermark, its values saved as JSON in their own
types, and the hashes of the rows read near it (re-read within the grace period, counted once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Watermark:
    """Where reading stopped: the last (timestamp, id) read, as the database returned them."""

    ts: Any = None
    key: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"ts": encode_value(self.ts), "key": encode_value(self.key)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Watermark:
        return Watermark(decode_value(data.get("ts")), decode_value(data.get("key")))


def encode_value(value: Any) -> Any:
    """A timestamp or id as JSON, its type kept, so it binds back as the same SQL value."""
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if value is None or isinstance(value, (int, float, str)):
        return value
    return {"text": str(value)}  # Decimal, UUID, date: bound back as text, which every database casts


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.fromisoformat(value["datetime"])
        if "bytes" in value:
            return bytes.fromhex(value["bytes"])
        if "decimal" in value:
            return Decimal(value["decimal"])
        return value.get("text")
    return value


def key_hashes(ts: pd.Series, keys: pd.Series) -> np.ndarray:
    """A 64-bit hash of each row's (timestamp, id), the same whichever query read the row."""
    frame = pd.DataFrame({"ts": ts.to_numpy(), "key": keys.astype(str).to_numpy()})
    return pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
