import json

import pytest

from pipeline.contract.rules_file import RulesFileError, load_rules
from pipeline.domain import JourneyPolicy, StageRules
from pipeline.domain.stages import default_rules_document

from ..support import DAY, MINUTE, Run, event, order, product


def test_lapse_moves_back_at_the_exact_instant_the_window_ends():
    rules_doc = default_rules_document()
    rules_doc["windows_days"]["advocacy"] = 1
    policy = JourneyPolicy(rules=StageRules.from_dict(rules_doc))
    run = Run(
        [
            event("order_completed", 0, order=order("o", product("p"))),
            event("logged_in", 1 * DAY),
            event("referral_sent", 2 * DAY),
            event("logged_in", 4 * DAY),
        ],
        policy,
    )
    assert run.stages[-2:] == [
        ("retention", "advocacy", "referral"),
        ("advocacy", "retention", "lapse"),
    ]
    lapse = run.transitions[-1]
    assert lapse["occurred_at"] == "2026-03-05T09:00:00.000Z"
    assert lapse["trigger_event_id"] is None


def test_demote_applies_only_above_its_stage():
    run = Run([event("product_viewed", 0), event("nps_submitted", MINUTE, nps_score=2)])
    assert run.stages == [(None, "consideration", "research")]
    assert run.out.counts["demote_without_effect"] == 1


def test_refund_takes_an_advocate_back_to_retention():
    run = Run(
        [
            event("order_completed", 0, order=order("o", product("p"))),
            event("content_shared", DAY),
            event("order_refunded", 2 * DAY),
        ]
    )
    assert [s[1:] for s in run.stages] == [
        ("purchase", "first-order"),
        ("advocacy", "referral"),
        ("retention", "refund"),
    ]


def test_advocacy_needs_a_purchase_and_first_visit_is_awareness():
    run = Run([event("page_viewed", 0), event("referral_sent", MINUTE)])
    assert run.stages == [(None, "awareness", "first-visit")]


def test_unknown_event_types_are_valid_and_counted_without_signal():
    run = Run([event("weather_checked", 0)])
    assert run.stages == []
    assert run.out.counts["events_without_stage_signal"] == 1
    assert len(run.sessions) == 1


def test_a_changed_rules_file_is_a_backtest(tmp_path):
    doc = default_rules_document()
    doc["rules"].insert(
        0, {"id": "vip-search", "stage": "purchase", "event_types": ["search_performed"]}
    )
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    run = Run([event("search_performed", 0)], JourneyPolicy(rules=load_rules(path)))
    assert run.stages == [(None, "purchase", "vip-search")]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"][0].update(stage="delight"), "rules/0/stage"),
        (lambda d: d["rules"][1]["when"][0].update(op="~="), "rules/1/when/0/op"),
        (lambda d: d["windows_days"].pop("retention"), "'retention' is a required property"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "repeated"),
    ],
)
def test_bad_rules_files_are_rejected_with_where_and_what(tmp_path, mutate, message):
    doc = default_rules_document()
    mutate(doc)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(RulesFileError, match=message.replace("(", r"\(")):
        load_rules(path)


def test_default_rules_file_is_valid_against_its_schema():
    from pathlib import Path

    import pipeline.domain

    load_rules(Path(pipeline.domain.__file__).parent / "default_stage_rules.json")
