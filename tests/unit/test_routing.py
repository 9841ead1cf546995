"""Producers' partitioners, the route envelope, and the partitioner guess."""

from hypothesis import given
from hypothesis import strategies as st

from pipeline.config import PARTITIONER_NAMES
from pipeline.worker.routing import (
    EVENT,
    PARTITIONERS,
    Origin,
    PartitionerGuess,
    fnv1a,
    open_envelope,
    partitioner,
    seal,
)


def test_the_settings_name_every_partitioner_there_is():
    assert set(PARTITIONER_NAMES) == set(PARTITIONERS)


JAVA_MURMUR2 = {  # Kafka's own UtilsTest.testMurmur2 vectors
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_is_the_java_clients_choice():
    for key, digest in JAVA_MURMUR2.items():
        for partitions in (1, 3, 8, 12, 100):
            expected = (digest & 0x7FFFFFFF) % partitions
            assert PARTITIONERS["murmur2"](key, partitions) == expected


def test_fnv1a_matches_its_reference_vectors():
    assert fnv1a(b"") == 0x811C9DC5
    assert fnv1a(b"a") == 0xE40C292C
    assert fnv1a(b"foobar") == 0xBF9CF968


def test_sarama_takes_the_absolute_value_of_a_negative_remainder():
    key = next(k for k in (f"k{n}".encode() for n in range(1000)) if fnv1a(k) & 0x80000000)
    signed = fnv1a(key) - (1 << 32)
    assert PARTITIONERS["fnv1a"](key, 7) == abs(signed) % 7
    assert all(0 <= PARTITIONERS["fnv1a"](key, n) < n for n in range(1, 50))


def test_a_journey_key_is_owned_by_the_partition_its_producers_partitioner_picks():
    for name, pick in PARTITIONERS.items():
        owner = partitioner(12, name)
        assert all(owner(f"c-{n}") == pick(f"c-{n}".encode(), 12) for n in range(200))


@given(st.binary(max_size=300), st.integers(0, 1 << 40), st.text(max_size=30))
def test_an_event_travels_with_its_bytes_and_coordinates_untouched(raw, offset, key):
    origin = Origin(raw, "clickstream.events", 3, offset, 1_767_225_600_000)
    routed = open_envelope(seal({"kind": EVENT, "key": key}, origin))
    assert routed.kind == EVENT and routed.header["key"] == key
    assert routed.origin == origin


def test_the_guess_names_the_partitioner_that_placed_the_rerouted_records():
    guess = PartitionerGuess(8)
    said = None
    for n in range(500):
        key = f"a-{n}".encode()
        said = said or guess.observe(key, PARTITIONERS["crc32"](key, 8))
    assert said is not None and "JOURNEY_INPUT_PARTITIONER=crc32" in said
    assert guess.observe(b"x", 0) is None, "said once"


def test_the_guess_says_when_no_known_partitioner_fits():
    guess = PartitionerGuess(8)
    said = [guess.observe(f"k{n}".encode(), 7 - PARTITIONERS["murmur2"](f"k{n}".encode(), 8))
            for n in range(50)]  # fmt: skip
    assert any(s and "no known partitioner" in s for s in said)
