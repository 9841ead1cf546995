import itertools
from collections import Counter

import msgspec
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.contract.codec import EventDecoder
from pipeline.domain import JourneyEngine, JourneyPolicy, Outputs
from pipeline.tools.generate import generate
from pipeline.worker.compact_states import TRAIN_ON, CompactStates

from ..support import Run, event, product, records


def outputs_of(states) -> tuple[list, Counter]:
    decoder = EventDecoder(65536, 3_600_000)
    engine = JourneyEngine(JourneyPolicy(), states)
    out = Outputs()
    for record in itertools.islice(generate(3000, 150, seed=5), 3000):
        e = decoder.decode(record.value, record.occurred_at).event
        engine.on_event(e, out, e.occurred_at)
    engine.on_eof(out)
    return records(out), out.counts


def test_a_tiny_decoded_limit_changes_nothing_the_engine_publishes():
    assert outputs_of(CompactStates(decoded=2)) == outputs_of({})


sample_states = Run([
    event("page_viewed", 0),
    event("cart_item_added", 60_000, product=product("p")),
], finish=False).engine.states  # fmt: skip


def test_idle_journeys_are_compressed_once_it_has_trained_and_read_back_whole():
    def states_after(table):
        engine = JourneyEngine(JourneyPolicy(), table)
        decoder, out = EventDecoder(65536, 3_600_000), Outputs()
        for record in generate(4000, 2000, seed=3):
            e = decoder.decode(record.value, record.occurred_at).event
            engine.on_event(e, out, e.occurred_at)
        return table

    table, reference = states_after(CompactStates(decoded=1, train_on=200)), states_after({})
    assert len(table.cold) > 500
    plain = sum(len(msgspec.msgpack.encode(reference[key].to_data())) for key in table.cold)
    assert sum(len(value) for value in table.cold.values()) < 0.7 * plain
    assert {key: table[key].to_data() for key in list(table)} == {
        key: state.to_data() for key, state in reference.items()
    }


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from(["get", "set", "del"]), st.integers(0, 6)), max_size=40),
    st.sampled_from([TRAIN_ON, 3]),
)
def test_behaves_as_a_dict_and_its_summary_counts_every_journey(operations, train_on):
    table, reference = CompactStates(decoded=2, train_on=train_on), {}
    template = sample_states["c-1"]
    for op, n in operations:
        key = f"k-{n}"
        if op == "set":
            state = type(template).from_data(orjson.loads(orjson.dumps(template.to_data())))
            state.key, state.stage = key, ["awareness", None, "purchase"][n % 3]
            table[key] = state
            reference[key] = state.to_data()
        elif op == "del" and key in reference:
            del table[key], reference[key]
        elif op == "get" and key in reference:
            assert table[key].to_data() == reference[key]
        assert len(table) == len(reference) and set(table) == set(reference)
        assert len(table.hot) <= 2
    summary = table.summary()
    assert +summary.stages == Counter(data[3] for data in reference.values())
    assert summary.sessions == sum(len(data[8]) for data in reference.values())
    assert summary.carts == sum(1 for data in reference.values() if data[9][1])
