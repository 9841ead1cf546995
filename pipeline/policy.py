"""The journey core's policy and the event decoder, built from the settings and the rules,
funnels and page-rules files they name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from .config import JourneySettings
from .contract.codec import EventDecoder
from .contract.rules_file import load_funnels, load_page_rules, load_rules
from .domain import CartPolicy, JourneyPolicy, SessionPolicy, default_rules
from .domain.analytics import (
    AnalyticsPolicy,
    Funnel,
    PageRules,
    default_document,
    funnels_from_dict,
)
from .domain.carts import ACTIVITY, ADD, ORDER, REMOVE
from .domain.propensity.policy import PropensityPolicy

__all__ = [
    "analytics_policy",
    "event_decoder",
    "journey_policy",
    "misspelt_event_types",
    "propensity_policy",
]


def event_decoder(settings: JourneySettings) -> EventDecoder:
    """The inbound event decoder with these limits (size, clock skew, drift)."""
    return EventDecoder(settings.max_event_bytes, settings.max_clock_skew, settings.drift)


def journey_policy(
    settings: JourneySettings, rules_path: str | None = None, funnels_path: str | None = None
) -> JourneyPolicy:
    """The journey core's policy (a rules or funnels path given here wins over the setting)."""
    path = rules_path or settings.stage_rules
    return JourneyPolicy(
        sessions=SessionPolicy(
            gap_ms=settings.session_gap,
            max_length_ms=settings.session_max,
            lateness_ms=settings.lateness,
        ),
        carts=CartPolicy(
            abandon_after_ms=settings.abandon_after,
            cooldown_ms=settings.alert_cooldown,
            attribution_ms=settings.attribution_window,
        ),
        rules=load_rules(Path(path)) if path else default_rules(),
        anonymous_ttl_ms=settings.anonymous_ttl,
        analytics=analytics_policy(settings, funnels_path),
        propensity=propensity_policy(settings),
    )


def propensity_policy(settings: JourneySettings) -> PropensityPolicy | None:
    """The session purchase model's policy (None when off)."""
    if settings.propensity != "on":
        return None
    return PropensityPolicy(
        step=settings.propensity_step,
        min_labels=settings.propensity_min_labels,
        evaluation=settings.propensity_eval,
    )


def analytics_policy(
    settings: JourneySettings, funnels_path: str | None = None
) -> AnalyticsPolicy | None:
    """The analytics' policy (None when off): windows close once every session ending in them
    has closed, and stay until no session can reach back into them."""
    if settings.analytics != "on":
        return None
    funnels = funnels_path or settings.funnels
    close_after = settings.session_gap + settings.lateness
    return AnalyticsPolicy(
        window_ms=settings.analytics_window,
        top=settings.paths_top,
        pages=load_page_rules(Path(settings.page_rules))
        if settings.page_rules
        else PageRules.from_dict(default_document("default_page_rules")),
        funnels=load_funnels(Path(funnels))
        if funnels
        else funnels_from_dict(default_document("default_funnels")),
        close_after_ms=close_after,
        keep_ms=settings.session_max + close_after,
    )


def misspelt_event_types(policy: JourneyPolicy) -> list[str]:
    """A warning for each event type the stage rules or funnels name that is one slip away
    from a type the pipeline knows (its default rules', funnels' and carts'): such a rule
    or step would never fire. Event types are open, so other new names pass quietly."""
    known = _known_event_types()
    named = set(policy.rules.event_types)
    if policy.analytics is not None:
        named |= _funnel_event_types(policy.analytics.funnels)
    warnings = []
    for name in sorted(named - known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.85)
        if close:
            warnings.append(
                f"the rules name event type {name!r}, which is not one the pipeline knows:"
                f" did you mean {close[0]!r}? (journey process --json counts each rule's matches)"
            )
    return warnings


def _known_event_types() -> set[str]:
    funnels = funnels_from_dict(default_document("default_funnels"))
    return {*default_rules().event_types, *_funnel_event_types(funnels), ADD, REMOVE, ORDER,
            *ACTIVITY}  # fmt: skip


def _funnel_event_types(funnels: Iterable[Funnel]) -> set[str]:
    return {t for funnel in funnels for _step, types in funnel.steps for t in types}
