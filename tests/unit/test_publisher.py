"""The publisher: messages at once; each flush's state after its messages are delivered,
the last write per key, each partition's closed by a marker; offsets; then what the state
backs; in order."""

import asyncio

import pytest

from pipeline.worker.publisher import Flush, Message, Publisher


def out(key: bytes | None, value: bytes) -> Message:
    return ("out", key, value, None)


def log(key: bytes, value: bytes) -> Message:
    return ("log", key, value, 0)


def marker(partition: int, moves: list[Message]) -> Message:
    """A commit marker naming the moves it records."""
    return ("log", b"commit", b"+".join(m[2] or b"" for m in moves) or b"-", partition)


def run(coroutine):
    return asyncio.run(coroutine)


async def nothing():
    pass


def test_a_round_sends_messages_then_the_latest_writes_then_commits():
    calls = []

    async def send(messages):
        calls.append(("send", list(messages)))
        return nothing()

    async def commit(offsets):
        calls.append(("commit", dict(offsets)))

    async def scenario():
        publisher = Publisher(
            send, send, commit, lambda ts, done: calls.append(("done", ts)), 4, marker
        )
        publisher.submit(Flush([out(b"k", b"1")], [log(b"j", b"a")], {"p": 1}, [7]))
        publisher.submit(Flush([out(b"k", b"2")], [log(b"j", b"b")], {"p": 2}, [8]))
        publisher.start()
        await publisher.drain()
        await publisher.stop()

    run(scenario())
    assert calls == [
        ("send", [out(b"k", b"1"), out(b"k", b"2")]),
        ("send", [log(b"j", b"b"), marker(0, [])]),
        ("commit", {"p": 2}),
        ("done", [7, 8]),
    ]


def test_later_outputs_leave_while_earlier_state_waits_for_its_outputs_delivery():
    calls = []

    async def scenario():
        delivered = asyncio.Event()

        async def delivery():
            await delivered.wait()
            calls.append("delivered")

        async def send(messages):
            calls.append([m[2] for m in messages])
            return delivery() if messages[0][0] == "out" else nothing()

        async def commit(offsets):
            calls.append(dict(offsets))

        publisher = Publisher(send, send, commit, lambda ts, done: None, 4, marker)
        publisher.start()
        publisher.submit(Flush([out(None, b"1")], [log(b"j", b"a")], {"p": 1}, []))
        while len(calls) < 1:
            await asyncio.sleep(0)
        publisher.submit(Flush([out(None, b"2")], [log(b"i", b"b")], {"p": 2}, []))
        while len(calls) < 2:
            await asyncio.sleep(0)
        assert calls == [[b"1"], [b"2"]], "the second batch's outputs leave at once"
        delivered.set()
        await publisher.drain()
        await publisher.stop()

    run(scenario())
    first = calls.index("delivered")
    second = calls.index("delivered", first + 1)
    writes = [n for n, call in enumerate(calls) if isinstance(call, list) and n > 1]
    assert all(n > first for n in writes), "no state before the outputs it follows"
    assert [n for n in writes if b"b" in calls[n]][0] > second
    assert calls[-1] == {"p": 2}


def test_a_failed_delivery_stops_the_publisher_before_anything_is_committed():
    committed = []

    async def lost():
        raise OSError("broker gone")

    async def send(messages):
        return lost()

    async def commit(offsets):
        committed.append(offsets)

    async def scenario():
        publisher = Publisher(send, send, commit, lambda ts, done: None, 4, marker)
        publisher.start()
        publisher.submit(Flush([out(None, b"x")], [log(b"j", b"a")], {"p": 1}, []))
        with pytest.raises(OSError, match="broker gone"):
            await publisher.drain()
        await publisher.stop()

    run(scenario())
    assert committed == []


def test_back_pressure_waits_while_the_queue_is_full():
    async def scenario():
        gate = asyncio.Event()
        sent = []

        async def delivery():
            await gate.wait()

        async def send(messages):
            sent.extend(messages)
            return delivery()

        async def commit(offsets):
            pass

        publisher = Publisher(send, send, commit, lambda ts, done: None, 1, marker)
        publisher.start()
        publisher.submit(Flush([out(None, b"1")], [], None, []))
        await asyncio.sleep(0)
        publisher.submit(Flush([out(None, b"2")], [], None, []))
        waiting = asyncio.create_task(publisher.room())
        await asyncio.sleep(0.01)
        assert not waiting.done(), "a full queue holds the next batch back"
        gate.set()
        await asyncio.wait_for(waiting, 5)
        await publisher.drain()
        await publisher.stop()
        return sent

    assert [m[2] for m in run(scenario())] == [b"1", b"2"]


def test_moves_and_marks_go_once_the_state_is_written_and_its_marker_records_the_moves():
    calls = []
    move, mark = ("route", b"c-1", b"absorb", 1), ("route", None, b"mark", 0)

    async def send(messages):
        calls.append([m[2] for m in messages])
        return nothing()

    async def commit(offsets):
        calls.append(dict(offsets))

    async def scenario():
        publisher = Publisher(send, send, commit, lambda ts, done: None, 4, marker)
        publisher.submit(
            Flush([out(b"k", b"1")], [log(b"j", b"a")], {"p": 1}, [], {0: [move]}, [mark])
        )
        publisher.start()
        await publisher.drain()
        await publisher.stop()

    run(scenario())
    assert calls == [[b"1"], [b"a", b"absorb"], {"p": 1}, [b"absorb", b"mark"]]
