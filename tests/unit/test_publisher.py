"""The publisher: messages, then the last state write per key, then offsets; in order."""

import asyncio

import pytest

from pipeline.worker.publisher import Flush, Publisher


def run(coroutine):
    return asyncio.run(coroutine)


def test_a_round_sends_messages_then_the_latest_writes_then_commits():
    calls = []

    async def send(messages):
        calls.append(("send", list(messages)))

    async def commit(offsets):
        calls.append(("commit", dict(offsets)))

    async def scenario():
        publisher = Publisher(send, commit, lambda ts, done: calls.append(("done", ts)), 4)
        publisher.submit(
            Flush([("out", b"k", b"1", None)], [("log", b"j", b"a", 0)], {"p": 1}, [7])
        )
        publisher.submit(
            Flush([("out", b"k", b"2", None)], [("log", b"j", b"b", 0)], {"p": 2}, [8])
        )
        publisher.start()
        await publisher.drain()
        await publisher.stop()

    run(scenario())
    assert calls == [
        ("send", [("out", b"k", b"1", None), ("out", b"k", b"2", None)]),
        ("send", [("log", b"j", b"b", 0)]),
        ("commit", {"p": 2}),
        ("done", [7, 8]),
    ]


def test_a_failed_delivery_stops_the_publisher_before_anything_is_committed():
    committed = []

    async def send(messages):
        raise OSError("broker gone")

    async def commit(offsets):
        committed.append(offsets)

    async def scenario():
        publisher = Publisher(send, commit, lambda ts, done: None, 4)
        publisher.start()
        publisher.submit(Flush([("out", None, b"x", None)], [], {"p": 1}, []))
        with pytest.raises(OSError, match="broker gone"):
            await publisher.drain()
        await publisher.stop()

    run(scenario())
    assert committed == []


def test_back_pressure_waits_while_the_queue_is_full():
    async def scenario():
        gate = asyncio.Event()
        sent = []

        async def send(messages):
            await gate.wait()
            sent.extend(messages)

        async def commit(offsets):
            pass

        publisher = Publisher(send, commit, lambda ts, done: None, 1)
        publisher.start()
        publisher.submit(Flush([("out", None, b"1", None)], [], None, []))
        await asyncio.sleep(0)
        publisher.submit(Flush([("out", None, b"2", None)], [], None, []))
        waiting = asyncio.create_task(publisher.room())
        await asyncio.sleep(0.01)
        assert not waiting.done(), "a full queue holds the next batch back"
        gate.set()
        await asyncio.wait_for(waiting, 5)
        await publisher.drain()
        await publisher.stop()
        return sent

    assert [m[2] for m in run(scenario())] == [b"1", b"2"]
