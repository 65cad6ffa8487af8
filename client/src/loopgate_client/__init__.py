"""Loopgate's Python client: resolve the pair to serve, record each response and
its feedback off the request path (see README.md)."""

from loopgate_client._client import Loopgate
from loopgate_client._record import Recording
from loopgate_client._types import (
    APIError,
    ConsentScope,
    EventRejected,
    EventResult,
    FeedbackType,
    LoopgateError,
    Outcome,
    Resolution,
    ServedPair,
    Stats,
    SubmitterRole,
    Topic,
    TransportError,
)

__version__ = "0.1.0"
__all__ = [
    "APIError",
    "ConsentScope",
    "EventRejected",
    "EventResult",
    "FeedbackType",
    "Loopgate",
    "LoopgateError",
    "Outcome",
    "Recording",
    "Resolution",
    "ServedPair",
    "Stats",
    "SubmitterRole",
    "Topic",
    "TransportError",
]
