"""The analytics tables: paths, funnels, voice of the customer; totals, parts, late facts."""

from __future__ import annotations

import json
import random

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.domain import Output, format_time
from pipeline.domain.analytics import (
    EXIT,
    OTHER,
    START,
    AnalyticsPolicy,
    AnalyticsTable,
    PageRules,
    default_document,
    funnels_from_dict,
)
from pipeline.domain.analytics.facts import SESSION, STAGE, VOICE
from pipeline.domain.analytics.nodes import TOUCHPOINTS, url_path
from pipeline.domain.analytics.rollup import Rollup, friction
from pipeline.domain.analytics.sketch import add, quantiles
from pipeline.domain.analytics.views import paths_view

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
FUNNELS = funnels_from_dict(default_document("default_funnels"))
PAGES = PageRules.from_dict(default_document("default_page_rules"))


def policy(top: int = 50) -> AnalyticsPolicy:
    return AnalyticsPolicy(window_ms=H, top=top, pages=PAGES, funnels=FUNNELS,
                           close_after_ms=35 * 60_000, keep_ms=25 * H)  # fmt: skip


def entry(t: int, kind: str, page: str | None = None, channel: str = "web", stage=None):
    return (T0 + t, kind, page, channel, stage)


def everything_of(trail: list) -> Rollup:
    table = AnalyticsTable(policy())
    table.add([(SESSION, trail)])
    return everything(table)


def everything(table: AnalyticsTable) -> Rollup:
    rollup = Rollup()
    for output, _key, record in table.close(table.closing_all()):
        rollup.add(output, record)
    return rollup


def test_a_session_makes_start_steps_and_exit_with_equal_nodes_collapsed():
    table = AnalyticsTable(policy())
    trail = [entry(0, "page_viewed", "/"), entry(60_000, "page_viewed", "/index.html"),
             entry(90_000, "product_viewed", url_path("https://shop.example/products/123?ref=x#top")),
             entry(150_000, "cart_item_added", "/products/123")]  # fmt: skip
    table.add([(SESSION, trail)])
    steps = everything(table).summed(Output.PATHS, None)
    page = {(k[2], k[3]): v["count"] for k, v in steps.items() if k[:2] == ("step", "page")}
    assert page == {(START, "/"): 1, ("/", "/products/:id"): 1, ("/products/:id", EXIT): 1}
    timed = steps[("step", "page", "/", "/products/:id")]
    assert abs(timed["p50_ms"] - 90_000) <= 0.025 * 90_000
    kinds = {(k[2], k[3]) for k in steps if k[:2] == ("step", "event_type")}
    assert kinds == {(START, "page_viewed"), ("page_viewed", "product_viewed"),
                     ("product_viewed", "cart_item_added"), ("cart_item_added", EXIT)}  # fmt: skip
    node = steps[("node", "page", "/products/:id")]
    assert (node["visits"], node["exits"], node["exit_rate"]) == (1, 1, 1.0)
    view = paths_view(everything_of(trail), "page", None)
    assert (view["from"], view["to"]) == (format_time(T0), format_time(T0 + H))


def test_steps_go_to_the_window_of_their_to_event_and_exit_to_the_last_event():
    table = AnalyticsTable(policy())
    table.add(
        [
            (
                SESSION,
                [entry(H - 60_000, "page_viewed", "/a"), entry(H + 60_000, "page_viewed", "/b")],
            )
        ]
    )
    per_window = everything(table).per_window(Output.PATHS, None)
    first, second = sorted(per_window)
    assert ("step", "page", START, "/a") in per_window[first]
    assert ("step", "page", "/a", "/b") in per_window[second]
    assert ("step", "page", "/b", EXIT) in per_window[second]


def test_a_funnel_step_counts_only_after_the_step_before_it():
    table = AnalyticsTable(policy())
    out_of_order = [entry(0, "checkout_started"), entry(10, "page_viewed"),
                    entry(20, "search_performed"), entry(30, "cart_item_added")]  # fmt: skip
    complete = [entry(0, "product_viewed"), entry(10, "cart_item_added"),
                entry(25, "checkout_started"), entry(45, "order_completed")]  # fmt: skip
    table.add([(SESSION, out_of_order), (SESSION, complete)])
    checkout = everything(table).summed(Output.FUNNELS, None)[("checkout",)]
    assert [s["entered"] for s in checkout["steps"]] == [2, 2, 1, 1]
    assert [s["conversion_from_previous"] for s in checkout["steps"]] == [1.0, 1.0, 0.5, 1.0]


def test_nps_by_the_standard_definition_with_its_standard_error():
    table = AnalyticsTable(policy())
    scores = [10] * 5 + [8] * 3 + [3, 6]
    table.add([(VOICE, T0, "nps", "retention", "email", s) for s in scores])
    table.add([(VOICE, T0, "rating", "advocacy", "web", r) for r in (5, 4, 1)])
    voice = everything(table).summed(Output.VOC, None)
    nps = voice[("nps", "retention", "email")]
    assert (nps["promoters"], nps["passives"], nps["detractors"], nps["nps"]) == (5, 3, 2, 30.0)
    assert nps["nps_se"] == pytest.approx(100 * ((0.5 + 0.2 - 0.3**2) / 10) ** 0.5, abs=0.01)
    assert nps["low_n"] is True
    rating = voice[("rating", "advocacy", "web")]
    assert (rating["responses"], rating["mean_rating"]) == (3, pytest.approx(3.333, abs=1e-3))


def test_the_stage_funnel_counts_entries_into_each_stage():
    table = AnalyticsTable(policy())
    table.add([(STAGE, T0, "awareness"), (STAGE, T0 + 5, "awareness"), (STAGE, T0, "purchase")])
    stages = everything(table).summed(Output.FUNNELS, None)[("stages",)]
    assert [s["entered"] for s in stages["steps"]] == [2, 0, 1, 0, 0]


def test_a_fact_after_a_window_closed_writes_it_again_and_one_after_it_left_is_refused():
    p = policy()
    table = AnalyticsTable(p)
    table.add([(VOICE, T0, "nps", "none", "web", 9)])
    closed = T0 + H + p.close_after_ms
    assert [r["responses"] for _o, _k, r in table.close(closed)] == [1]
    table.add([(VOICE, T0 + 1, "nps", "none", "web", 0)])
    assert table.close(closed + 1) == [], "changes after the close are written in a batch"
    assert table.next_pass == closed + H
    again = table.close(closed + H)
    assert [(r["responses"], r["final"]) for _o, _k, r in again] == [(2, True)]
    table.add([(VOICE, T0 + 2, "nps", "none", "web", 10)])
    leaving = table.close(T0 + H + p.keep_ms)
    assert [r["responses"] for _o, _k, r in leaving] == [3], "written before it leaves memory"
    assert table.windows == {}
    table.add([(VOICE, T0 + 3, "nps", "none", "web", 10)])
    assert table.too_late == 1 and table.windows == {}


def _sessions(rng: random.Random, n: int) -> list[list[list]]:
    kinds = ["page_viewed", "product_viewed", "cart_item_added", "checkout_started",
             "order_completed", "support_contacted", "search_performed"]  # fmt: skip
    sessions = []
    for _ in range(n):
        t = rng.randrange(0, 10 * H)
        trail = []
        for _ in range(rng.randrange(1, 12)):
            t += rng.randrange(1, 600_000)
            page = f"/p/{rng.randrange(30)}/x{rng.randrange(9)}"
            channel = rng.choice(["web", "app", "email"])
            trail.append(
                entry(t, rng.choice(kinds), page, channel, rng.choice([None, "awareness"]))
            )
        sessions.append(trail)
    return sessions


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 5), st.integers(2, 60))
def test_totals_add_up_and_parts_merge_to_one_table(seed, parts, top):
    rng = random.Random(seed)
    sessions = _sessions(rng, 60)
    whole = AnalyticsTable(policy(top=top))
    pieces = [AnalyticsTable(policy(top=top), part) for part in range(parts)]
    for trail in sessions:
        whole.add([(SESSION, trail)])
        pieces[rng.randrange(parts)].add([(SESSION, trail)])
    alone = everything(whole).summed(Output.PATHS, None)
    merged = Rollup()
    for piece in pieces:
        for output, _key, record in piece.close(piece.closing_all()):
            merged.add(output, record)
    together = merged.summed(Output.PATHS, None)
    for dim in ("event_type", "page", "channel"):
        starts = sum(v["count"] for k, v in alone.items() if k[:3] == ("step", dim, START))
        exits = sum(
            v["count"] for k, v in alone.items() if k[0] == "step" and k[1] == dim and k[3] == EXIT
        )
        assert starts == exits == len(sessions)
        for view in (alone, together) if dim in TOUCHPOINTS else ():
            inflow = sum(
                v["count"] for k, v in view.items() if k[:2] == ("step", dim) and k[2] != START
            )
            visits = sum(v["visits"] for k, v in view.items() if k[:2] == ("node", dim))
            assert inflow + starts - exits == visits
    if top >= 40:  # no (other): every count exact, whatever the parts
        assert {k: v["count"] for k, v in together.items() if k[0] == "step"} == {
            k: v["count"] for k, v in alone.items() if k[0] == "step"
        }
        assert not any(k[-1] == OTHER for k in alone)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(2, 60), st.integers(1, 4))
def test_groups_written_again_list_all_they_listed_and_sum_as_one_pass(seed, top, passes):
    """Sessions closing after their windows were written make those groups write again:
    each record lists every entry its group listed before (a reader keeping the latest
    record of a group loses nothing), and the latest entries sum to the one-pass totals."""
    rng = random.Random(seed)
    sessions = _sessions(rng, 80)
    once = everything_of_all(sessions, top)
    table, rollup, listed = AnalyticsTable(policy(top=top)), Rollup(), {}
    cut = sorted(rng.sample(range(1, len(sessions)), passes - 1))
    for n, batch in enumerate(zip([0, *cut], [*cut, len(sessions)], strict=True)):
        table.add([(SESSION, trail) for trail in sessions[batch[0] : batch[1]]])
        now = table.closing_all() if n == passes - 1 else T0 + (n + 1) * 3 * H
        for output, key, record in table.close(now):
            if output == Output.PATHS:
                names = {("step", e["from"], e["to"]) for e in record["steps"]}
                names |= {("node", e["node"]) for e in record["nodes"]}
                assert names >= listed.get(key, set()), "an entry once listed stays listed"
                listed[key] = names
            rollup.add(output, record)
    again = rollup.summed(Output.PATHS, None)

    def per_group(view):
        sums = {}
        for k, v in view.items():
            group = k[:3] if k[0] == "step" else k[:2]
            sums[group] = sums.get(group, 0) + v.get("count", v.get("visits", 0))
        return sums

    assert per_group(again) == per_group(once)
    if top >= 40:  # no (other): every entry exact
        assert {k: v.get("count", v.get("visits")) for k, v in again.items()} == {
            k: v.get("count", v.get("visits")) for k, v in once.items()
        }


def everything_of_all(sessions: list, top: int) -> dict:
    table = AnalyticsTable(policy(top=top))
    table.add([(SESSION, trail) for trail in sessions])
    return everything(table).summed(Output.PATHS, None)


def test_friction_flags_a_touchpoint_whose_exit_rate_jumps_above_its_baseline():
    def window(exits: int) -> dict:
        key = ("node", "page", "/checkout")
        return {key: {"visits": 100, "exits": exits, "exit_rate": exits / 100,
                      "support_contacts": 1, "support_rate": 0.01}}  # fmt: skip

    calm = {T0 + n * H: window(10) for n in range(6)}
    assert not any(f["flagged"] for f in friction(calm))
    broken = {**calm, T0 + 6 * H: window(60)}
    [flag] = [f for f in friction(broken) if f["flagged"]]
    assert (flag["node"], flag["measure"], flag["rate"], flag["baseline"]) == (
        "/checkout",
        "exit_rate",
        0.6,
        0.1,
    )


@given(st.lists(st.integers(0, 10**8), min_size=1, max_size=300))
def test_sketch_quantiles_are_within_two_and_a_half_percent(values):
    sketch: dict[int, int] = {}
    for value in values:
        add(sketch, value)
    ordered = sorted(values)
    for q in (0.5, 0.9):
        true = ordered[int(q * (len(ordered) - 1))]
        [found] = quantiles(sorted(sketch.items()), (q,))
        assert abs(found - true) <= 0.025 * true + 1


def test_the_shipped_funnels_and_page_rules_pass_their_schemas(tmp_path):
    from pipeline.contract.rules_file import load_funnels, load_page_rules

    for name in ("default_funnels", "default_page_rules"):
        (tmp_path / f"{name}.json").write_text(json.dumps(default_document(name)))
    assert [f.id for f in load_funnels(tmp_path / "default_funnels.json")] == ["checkout", "stages"]
    rules = load_page_rules(tmp_path / "default_page_rules.json")
    assert rules.node("/products/p-shoes-042/reviews/") == "/products/:id/reviews"
    assert rules.node("/index.html") == "/"


ONE_STEP = {"name": "x", "event_types": ["e"]}
STAGES = {"id": "stages", "kind": "stages"}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"schema_version": 1, "funnels": [{"id": "a", "steps": [ONE_STEP]}]}, "funnels/0"),
        ({"schema_version": 1, "funnels": [STAGES, STAGES]}, "repeated: stages"),
        ({"schema_version": 2, "funnels": []}, "schema_version"),
    ],
)  # fmt: skip
def test_a_bad_funnels_file_is_refused_naming_the_file_and_the_problem(tmp_path, document, problem):
    from pipeline.contract.rules_file import RulesFileError, load_funnels

    path = tmp_path / "funnels.json"
    path.write_text(json.dumps(document))
    with pytest.raises(RulesFileError, match=problem) as raised:
        load_funnels(path)
    assert str(path) in str(raised.value)


def test_a_page_rule_that_is_no_regular_expression_is_refused(tmp_path):
    from pipeline.contract.rules_file import RulesFileError, load_page_rules

    path = tmp_path / "pages.json"
    path.write_text(json.dumps({"schema_version": 1, "id_patterns": ["[0-9"]}))
    with pytest.raises(RulesFileError, match=r"\[0-9.*not a regular expression"):
        load_page_rules(path)


def test_the_counts_a_rollup_keeps_drop_out_of_the_collectors_scans():
    """What a worker keeps for weeks (each part's latest counts) holds nothing the cyclic
    collector must scan, so its full collections stay short however much is kept."""
    import gc

    import orjson

    table = AnalyticsTable(policy())
    table.add([(SESSION, trail) for trail in _sessions(random.Random(5), 50)])
    table.add([(VOICE, T0, "nps", "none", "web", 9)])
    rollup = Rollup()
    for output, _key, record in table.close(table.closing_all()):
        rollup.add(output, orjson.loads(orjson.dumps(record)))  # as read from a topic
    kept = [counts for window in rollup.latest.values() for counts in window.values()]
    assert {o for o, _start in rollup.latest} == set(Output.ANALYTICS) and kept
    tracked = kept
    for _pass in range(10):  # a pass stops tracking the tuples whose items it found untracked
        gc.collect()  # first (the order is the collector's), and a full one the dicts
        tracked = [counts for counts in tracked if gc.is_tracked(counts)]
        if not tracked:
            break
    assert not tracked


def test_a_sessions_trail_drops_out_of_the_collectors_scans():
    """An open session keeps a trail entry per event for as long as it lasts: plain tuples,
    which the cyclic collector stops scanning after one look (lists it scans every time),
    whether made from an event or read back from a changelog."""
    import gc

    import orjson

    from pipeline.domain import JourneyPolicy, JourneyState

    from ..support import Run, event

    run = Run([event("page_viewed", T0, page={"url": "https://shop.example/"}),
               event("product_viewed", T0 + 60_000)],
              JourneyPolicy(analytics=policy()), finish=False)  # fmt: skip
    [state] = run.engine.states.values()
    restored = JourneyState.from_data(orjson.loads(orjson.dumps(state.to_data())))
    trail = [entry for s in (*state.sessions, *restored.sessions) for entry in s.trail]
    assert [entry[1] for entry in trail] == ["page_viewed", "product_viewed"] * 2
    gc.collect()
    assert not [entry for entry in trail if gc.is_tracked(entry)]


def _read_back(written: list, keep_ms: int | None = None) -> tuple[Rollup, Rollup, list[bytes]]:
    """`written` read from the topics twice: every record parsed, and as a worker's view
    does, paths records kept unparsed (`add_unread`); and what the second parsed."""
    parsed: list[bytes] = []

    def read(value: bytes) -> None:
        parsed.append(value)
        lazy.add(Output.PATHS, orjson.loads(value))

    eager, lazy = Rollup(keep_ms), Rollup(keep_ms, read)
    for output, key, record in written:
        value = orjson.dumps(record)
        eager.add(output, orjson.loads(value))
        if output != Output.PATHS or not lazy.add_unread(key.encode(), value):
            lazy.add(output, orjson.loads(value))
    return eager, lazy, parsed


def test_a_view_parses_paths_records_only_for_the_windows_it_covers_and_answers_the_same():
    from pipeline.domain.analytics.views import friction_view

    table, written = AnalyticsTable(policy()), []
    for trail in _sessions(random.Random(9), 120):  # not in time order: windows written again
        table.add([(SESSION, trail)])
        written += table.close(trail[-1][0] + 2 * H)
    written += table.close(table.closing_all())
    keys = [key for output, key, _record in written if output == Output.PATHS]
    assert len(keys) > len(set(keys))
    eager, lazy, parsed = _read_back(written)
    held = set(lazy.unread)
    assert len(held) > 3 and not parsed
    assert paths_view(lazy, "page", 2 * H) == paths_view(eager, "page", 2 * H)
    assert parsed and set(lazy.unread) == {s for s in held if s < lazy.last_end - 2 * H}
    left = sum(len(values) for values in lazy.unread.values())
    chunks = 0
    while lazy.read_unread(None, 7):  # as a worker reads for a long view: a chunk at a time
        chunks += 1
    assert chunks == (left - 1) // 7 and not lazy.unread
    for dimension in ("event_type", "page", "channel", "stage"):
        assert paths_view(lazy, dimension, None) == paths_view(eager, dimension, None)
    assert friction_view(lazy, None, every=True) == friction_view(eager, None, every=True)
    latest = {key: orjson.dumps(r) for output, key, r in written if output == Output.PATHS}
    assert parsed and set(parsed) <= set(latest.values()) and len(parsed) == len(set(parsed))


def test_a_view_forgets_unparsed_windows_as_it_forgets_parsed_ones():
    table = AnalyticsTable(policy())
    table.add([(SESSION, [entry(0, "page_viewed", "/"), entry(60_000, "cart_item_added")])])
    table.add([(SESSION, [entry(30 * H, "page_viewed", "/"), entry(30 * H + 1, "search")])])
    eager, lazy, parsed = _read_back(table.close(table.closing_all()), keep_ms=2 * H)
    assert set(lazy.unread) == {T0 + 30 * H} and not parsed
    assert paths_view(lazy, "event_type", None) == paths_view(eager, "event_type", None)
    late = format_time(T0 + 30 * H)
    assert parsed and all(json.loads(value)["window_start"] == late for value in parsed)
