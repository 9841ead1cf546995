"""What crosses partitions: the `Router` port and the messages it carries.

A journey lives on one partition. What must reach a journey that lives elsewhere goes
to its key as a message: an event of a device stitched to a customer (`Forward`), the
two steps of an identity stitch (`Detach` on the anonymous journey's partition, then
`Absorb` on the customer's), a request to erase (`Forget`). The engine asks its router
whether a key is here (`owns`) and takes the step in place if it is; offline every
journey is here (`Everywhere`), the worker's router writes the route topic.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from .events import Event

__all__ = ["Absorb", "Detach", "Everywhere", "Forget", "Forward", "Message", "Router"]


class Forward(NamedTuple):
    """An event to apply under the message's key."""

    event: Event
    source: Any
    """What the shell needs to send the event on (the worker: the record as produced)."""


class Detach(NamedTuple):
    """Stitch step 1: the anonymous journey (the key) moves to `customer` as of `at`."""

    customer: str
    at: int


class Absorb(NamedTuple):
    """Stitch step 2: the customer's journey (the key) folds in a detached journey."""

    moved: list[Any]
    """The detached journey's plain data (`JourneyState.to_data`)."""
    at: int


class Forget(NamedTuple):
    """Erase the journey of the key (a request to be forgotten)."""


Message = Forward | Detach | Absorb | Forget


class Router(Protocol):
    def owns(self, key: str) -> bool:
        """Whether the journey of `key` lives with this engine."""
        ...

    def send(self, key: str, message: Message) -> None:
        """Deliver `message` to the engine that owns `key`."""
        ...


class Everywhere:
    """The router of one process holding every journey: nothing is ever sent."""

    def owns(self, key: str) -> bool:
        return True

    def send(self, key: str, message: Message) -> None:
        raise RuntimeError(f"every journey is here, yet a message went to {key!r}: {message!r}")
