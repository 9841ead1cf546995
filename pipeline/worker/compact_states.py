"""A partition's journey states in less memory: recent ones as objects, idle ones encoded.

The most recently used journeys (up to `decoded` of them) are kept as
`JourneyState` objects; past that the least recently used one is encoded
(its `to_data` as MessagePack, msgspec's: smaller than the same data as JSON,
as fast both ways) and decoded again when next touched. Counts the gauges
need (journeys by stage, open sessions, carts) are kept for the encoded ones as
running totals, so a summary never decodes anything.

Once a partition has encoded `TRAIN_ON` journeys, the MessagePack is compressed
with zstd against a dictionary trained on them: a partition's journeys share
their fields, stages, event types and id shapes, so an idle journey takes far
fewer bytes for a small cost each way (figures: docs/architecture.md). The
dictionary lives in memory only, as the encoded journeys do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, MutableMapping
from typing import Final

import msgspec
import zstandard

from ..domain import JourneyState

__all__ = ["TRAIN_ON", "CompactStates", "Summary"]

_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder()

TRAIN_ON: Final = 1000
"""Journeys encoded as plain MessagePack before the dictionary is trained on them."""
_DICTIONARY_BYTES: Final = 4096
_FORMAT: Final = zstandard.FORMAT_ZSTD1_MAGICLESS
"""No frame magic: every value held is a frame of this one dictionary."""


class _Compression:
    """zstd against one dictionary, with nothing in a frame that the holder knows already."""

    def __init__(self, samples: list[bytes]) -> None:
        try:
            buffers: list[bytes | bytearray | memoryview] = [*samples]
            dictionary = zstandard.train_dictionary(_DICTIONARY_BYTES, buffers)
        except zstandard.ZstdError:  # samples too alike or too small to train on
            joined = b"".join(samples)[-_DICTIONARY_BYTES:]
            dictionary = zstandard.ZstdCompressionDict(
                joined, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
        params = zstandard.ZstdCompressionParameters.from_level(
            1, format=_FORMAT, write_content_size=1, write_checksum=0, write_dict_id=0
        )
        self._compress = zstandard.ZstdCompressor(
            dict_data=dictionary, compression_params=params
        ).compress
        self.decompress = zstandard.ZstdDecompressor(
            dict_data=dictionary, format=_FORMAT
        ).decompress

    def compress(self, data: bytes) -> bytes:
        """The frame, copied: zstandard's own bytes object keeps the worst case's allocation
        (more than the plain data's)."""
        return memoryview(self._compress(data)).tobytes()


class Summary:
    """Journeys by stage (None: no stage yet), open sessions, non-empty carts."""

    def __init__(self) -> None:
        self.stages: Counter[str | None] = Counter()
        self.sessions = 0
        self.carts = 0

    def add(self, state: JourneyState, sign: int = 1) -> None:
        self.stages[state.stage] += sign
        self.sessions += sign * len(state.sessions)
        self.carts += sign * bool(state.cart.items)


class CompactStates(MutableMapping[str, JourneyState]):
    def __init__(self, decoded: int, train_on: int = TRAIN_ON) -> None:
        self.decoded = decoded
        self.train_on = train_on
        self.hot: dict[str, JourneyState] = {}
        """Decoded journeys, least recently used first."""
        self.cold: dict[str, bytes] = {}
        self.cold_summary = Summary()
        self._samples: list[bytes] = []
        self._compression: _Compression | None = None

    def __getitem__(self, key: str) -> JourneyState:
        state = self.hot.pop(key, None)
        if state is None:
            state = self._decode(self.cold.pop(key))
            self.cold_summary.add(state, -1)
        self.hot[key] = state
        self._encode_beyond_limit()
        return state

    def __setitem__(self, key: str, state: JourneyState) -> None:
        if key in self.cold:
            self._forget_cold(key)
        self.hot.pop(key, None)
        self.hot[key] = state
        self._encode_beyond_limit()

    def __delitem__(self, key: str) -> None:
        if self.hot.pop(key, None) is None:
            self._forget_cold(key)  # raises KeyError when absent

    def __contains__(self, key: object) -> bool:
        return key in self.hot or key in self.cold

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold)

    def __iter__(self) -> Iterator[str]:
        yield from list(self.hot)
        yield from list(self.cold)

    def summary(self) -> Summary:
        """Counts over every journey held, decoded or not."""
        total = Summary()
        total.stages.update(self.cold_summary.stages)
        total.sessions, total.carts = self.cold_summary.sessions, self.cold_summary.carts
        for state in self.hot.values():
            total.add(state)
        return total

    def _forget_cold(self, key: str) -> None:
        self.cold_summary.add(self._decode(self.cold.pop(key)), -1)

    def _encode_beyond_limit(self) -> None:
        while len(self.hot) > self.decoded:
            key = next(iter(self.hot))
            state = self.hot.pop(key)
            self.cold[key] = self._encode(state)
            self.cold_summary.add(state)

    def _encode(self, state: JourneyState) -> bytes:
        packed = _PACK.encode(state.to_data())
        if self._compression is None:
            self._samples.append(packed)
            if len(self._samples) < self.train_on:
                return packed
            self._compression = compression = _Compression(self._samples)
            self._samples = []
            for key, value in self.cold.items():  # held as plain MessagePack until now
                self.cold[key] = compression.compress(value)
        return self._compression.compress(packed)

    def _decode(self, encoded: bytes) -> JourneyState:
        if self._compression is not None:
            encoded = self._compression.decompress(encoded)
        return JourneyState.from_data(_UNPACK.decode(encoded))
