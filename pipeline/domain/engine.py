"""The journeys of one partition (or of a whole file), and the only orchestrator.

Shaped like a stateful stream operator: a runner feeds it events (`on_event`), the
passing of time (`on_watermark`), messages from other partitions (`on_message`) and
the end of input (`on_eof`). The engine alone decides the order of what follows
(timers due, held events, identity stitches, forwards, analytics counting) and puts
its decisions in `Outputs`; whatever must reach a journey elsewhere goes through its
`Router`. `snapshot` gives what changed since the last one, for the runner to persist.

The runners differ only in where time comes from (offline: each event's own time, in
event-time order; the worker: the partition's aligned watermark) and in their router
(offline: every journey is here; the worker: the route topic).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, NamedTuple

from .analytics.table import AnalyticsTable
from .analytics.window import Window
from .deadlines import advance, empty, expires_at, next_deadline
from .events import Event
from .identity import Identity, hold
from .journey import process
from .journey_state import Count, JourneyPolicy, JourneyState, Outputs
from .propensity.daily import retire
from .propensity.scorer import Propensity
from .router import Absorb, Detach, Everywhere, Forget, Forward, Message, Router
from .timers import TimerQueue
from .vocabulary import Outcome

__all__ = ["EVALUATIONS_EVERY", "JourneyEngine", "Snapshot", "Step"]

EVALUATIONS_EVERY = 1000
"""Examples learned between two snapshots of the models' evaluations (fewer while they hold
under 10,000: a tenth of what they hold): an engine recovered from a snapshot lacks at most
that many of its latest labels there (the models themselves are snapshotted whenever they
learn)."""


class Step(NamedTuple):
    """What became of an event."""

    outcome: str
    late_by: int | None
    """For an event to dead-letter as late: how many ms it is behind the watermark."""
    via_alias: bool = False
    """Applied here under the customer its anonymous id is stitched to."""


class Snapshot(NamedTuple):
    """What changed since the last snapshot: journeys (None: removed), analytics windows
    (None: gone from memory), the propensity models (None: unchanged) and their evaluations
    (None: not due, `EVALUATIONS_EVERY`)."""

    states: list[tuple[str, JourneyState | None]]
    windows: list[tuple[int, Window | None]]
    models: list[Any] | None = None
    evaluations: list[Any] | None = None


class JourneyEngine:
    def __init__(
        self,
        policy: JourneyPolicy,
        states: MutableMapping[str, JourneyState] | None = None,
        hold: bool = False,
        router: Router | None = None,
        part: int = 0,
        join: bool = False,
    ) -> None:
        """`states`: where the journeys live (default a dict; the worker passes a compact
        table that keeps idle journeys encoded). `hold`: an event not behind the watermark
        waits until the watermark passes it, so events are processed in event-time order
        (a worker whose input may be out of order; offline input is sorted). `join`: the
        same for the events of journeys reached from several partitions only (a worker:
        `joins`). `router`: which journeys are here and how a message reaches the others
        (default: all are here). `part`: the part number of this engine's analytics
        records (its partition)."""
        self.policy = policy
        self.hold = hold
        self.join = join
        self.router: Router = Everywhere() if router is None else router
        self.states: MutableMapping[str, JourneyState] = {} if states is None else states
        self.timers = TimerQueue()
        self.watermark = 0
        self.now = 0
        """The latest time decisions were taken at (the watermark, or an idle clock past it)."""
        self.analytics = AnalyticsTable(policy.analytics, part) if policy.analytics else None
        """The windowed tables this engine's facts are counted in (`_tally`)."""
        self.propensity = Propensity(policy.propensity) if policy.propensity else None
        """The propensity models this engine's journeys are scored by and teach."""
        self.identity = Identity(self.states, policy, self._touched)
        self.dirty: set[str] = set()

    # -- entry points ---------------------------------------------------------

    def on_event(
        self,
        event: Event,
        out: Outputs,
        watermark: int | None = None,
        key: str | None = None,
        source: object = None,
    ) -> Step:
        """Apply `event` under `key` (default: its journey key), the watermark raised to
        `watermark` first. An event of an anonymous id stitched to a customer goes on to
        the customer's journey, here or through the router (with `source`)."""
        self._arm(out)
        if watermark is not None:
            self._observe(watermark, out)
        step = self._step(event, out, key or event.key)
        if step.outcome == Outcome.FORWARDED:
            target = self.states[key or event.key].alias_of
            assert target is not None
            out.counts[Count.FORWARDED] += 1
            if self.router.owns(target):
                step = self._step(event, out, target)._replace(via_alias=True)
            else:
                self.router.send(target, Forward(event, source))
        self._settle(out)
        return step

    def on_watermark(
        self, out: Outputs, watermark: int | None = None, idle_for: int | None = None
    ) -> None:
        """Time passed: the watermark rose to `watermark`; and/or the partition has been
        quiet for `idle_for` ms with nothing in flight, so waiting stitches move and the
        decisions due by the watermark plus that time are taken."""
        self._arm(out)
        if watermark is not None:
            self._observe(watermark, out)
        if idle_for is not None:
            self.identity.release_all(out)
            if self.watermark:
                self._fire(self.watermark + idle_for, out)
        self._settle(out)

    def on_message(self, key: str, message: Message, out: Outputs) -> Step | None:
        """A message from another partition for the journey of `key`; an event's `Step`."""
        self._arm(out)
        if isinstance(message, Forward):
            return self.on_event(message.event, out, key=key, source=message.source)
        if isinstance(message, Detach):
            state = self._state(key)
            self.identity.request_detach(state, message.customer, message.at, self.watermark, out)
        elif isinstance(message, Absorb):
            self.identity.absorb(self._state(key), message.moved, message.at, self.watermark, out)
        else:
            self._forget(key, out)
        self._settle(out)
        return None

    def on_eof(self, out: Outputs) -> None:
        """End of input: move time past every gap and timeout so all is closed and judged,
        and every analytics window with it."""
        self._fire(self.watermark + self.horizon(), out)
        if self.propensity is not None:
            self.propensity.learn(out)
        if self.analytics is not None:
            self._tally(out, until=self.analytics.closing_all())

    def snapshot(self) -> Snapshot:
        dirty, self.dirty = self.dirty, set()
        states = [(key, self.states.get(key)) for key in sorted(dirty)]  # reproducible writes
        windows = self.analytics.take_dirty() if self.analytics is not None else []
        propensity = self.propensity
        if propensity is None:
            return Snapshot(states, windows)
        evaluations = propensity.take_evaluations(EVALUATIONS_EVERY)
        return Snapshot(states, windows, propensity.take_changed(), evaluations)

    def restore(
        self,
        states: Iterable[JourneyState],
        watermark: int,
        windows: Iterable[Window] = (),
        horizon: int = 0,
        models: list[Any] | None = None,
        evaluations: list[Any] | None = None,
    ) -> None:
        """Take over recovered journeys, analytics windows and propensity models and their
        evaluations (e.g. from a changelog) and the watermark they were written under, and
        re-arm their timers."""
        self.watermark = watermark
        if self.propensity is not None:
            self.propensity.restore(models, evaluations)
        for state in states:
            self.states[state.key] = state
            self.timers.schedule(state.key, next_deadline(state, self.policy))
            self.identity.restored(state)
        if self.analytics is not None:
            self.analytics.restore(windows, horizon)

    def horizon(self) -> int:
        """How far past the last event time every session closes and every cart is judged."""
        policy = self.policy
        lateness = policy.sessions.lateness_ms
        return max(policy.sessions.gap_ms, policy.carts.abandon_after_ms) + lateness + 1

    # -- one event ------------------------------------------------------------

    def _state(self, key: str) -> JourneyState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = JourneyState(key=key)
        return state

    def _step(self, event: Event, out: Outputs, key: str) -> Step:
        """Process `event` under `key` at the current watermark.

        An event held for a pending stitch is judged late on arrival, so its dead letter
        goes out then (with the record's own bytes); processed later, it is late again.
        An event waits in its journey (`Outcome.HELD`) when `Identity.waits`; what it does
        once released is counted in `out.released`.
        """
        state = self._state(key)
        identity = self.identity
        if identity.waits(state, event, self.watermark, self.hold, self.join):
            hold(state, event)
            identity.ask(state, event, out)
            self._touched(state)
            return Step(Outcome.HELD, None)
        outcome = process(state, event, self.watermark, self.policy, out)
        if state.early and state.awaiting:  # it asked for a journey that arrived before it
            identity.release(state, self.watermark, out)
        self._touched(state)
        if outcome == Outcome.PARKED:  # its stitch is asked for now, not once it is replayed
            identity.ask(state, event, out)
        behind = self.watermark - event.occurred_at
        late = outcome == Outcome.LATE or (
            outcome == Outcome.PARKED and behind > self.policy.sessions.lateness_ms
        )
        return Step(outcome, behind if late else None)

    def _touched(self, state: JourneyState) -> None:
        self.dirty.add(state.key)
        self.timers.schedule(state.key, next_deadline(state, self.policy))
        self.identity.track(state)

    def _arm(self, out: Outputs) -> None:
        """Tell the steps whether events are to be scored (the session model publishes)."""
        propensity = self.propensity
        out.scoring_on = propensity is not None and propensity.session.publishing

    def _settle(self, out: Outputs) -> None:
        """After the engine moved: take the stitch steps between journeys here in place,
        send the others on (aliases first, then moves), and count the facts."""
        self._stitch_here(out)
        router = self.router
        for anonymous_id, customer_key, at in out.aliases:
            router.send(anonymous_id, Detach(customer_key, at))
        for customer_key, moved, at in out.moves:
            router.send(customer_key, Absorb(moved, at))
        out.aliases.clear()
        out.moves.clear()
        self._tally(out)
        if self.propensity is not None:
            self.propensity.learn(out)
            self.propensity.score(out)
            self._arm(out)

    def _stitch_here(self, out: Outputs) -> None:
        """Take the stitch steps in `out` whose journey is here in place; the others stay in
        `out`. Outcomes of held events that absorbing replays go to `out.released`."""
        owns, identity = self.router.owns, self.identity
        aliases: list[tuple[str, str, int]] = []
        moves: list[tuple[str, list[Any], int]] = []
        while out.aliases or out.moves:
            while out.aliases:
                alias = out.aliases.pop(0)
                if owns(alias[0]):
                    state = self._state(alias[0])
                    identity.request_detach(state, alias[1], alias[2], self.watermark, out)
                else:
                    aliases.append(alias)
            while out.moves:
                move = out.moves.pop(0)
                if owns(move[0]):
                    identity.absorb(self._state(move[0]), move[1], move[2], self.watermark, out)
                else:
                    moves.append(move)
        out.aliases, out.moves = aliases, moves

    def _forget(self, key: str, out: Outputs) -> None:
        """Erase a journey (a request to be forgotten), and the aliases of the anonymous ids
        stitched to it, here or through the router. None of it is a decision: no output."""
        state = self.states.get(key)
        if state is None:
            return
        self._drop(key)
        out.counts[Count.ERASED] += 1
        for linked in sorted({i for i in (*state.anonymous_ids, state.anonymous_id) if i} - {key}):
            if self.router.owns(linked):
                if linked in self.states:
                    self._drop(linked)
                    out.counts[Count.ERASED] += 1
            else:
                self.router.send(linked, Forget())

    # -- time -----------------------------------------------------------------

    def _observe(self, event_time: int, out: Outputs) -> None:
        """Raise the watermark to `event_time` and fire what that made due."""
        if event_time > self.watermark:
            self.watermark = event_time
            self._fire(self.watermark, out)

    def _fire(self, now: int, out: Outputs) -> None:
        """Take every decision due at or before `now`, deadline by deadline, with the stitch
        steps they cause between journeys here taken in place before time moves on."""
        timers = self.timers
        self.now = max(self.now, now)
        while (due := timers.next_deadline()) is not None and due <= now:
            asked = len(out.aliases) + len(out.moves)
            for key in timers.pop_due(due):
                self._due(self.states[key], due, out)
            if len(out.aliases) + len(out.moves) > asked:
                self._stitch_here(out)

    def _due(self, state: JourneyState, due: int, out: Outputs) -> None:
        if self.identity.due(state, due, out):
            return
        advance(state, due, self.policy, out)
        expiry = expires_at(state, self.policy)
        if expiry is not None and expiry <= due:
            self._remove(state, due, out)
            return
        self._touched(state)

    def _remove(self, state: JourneyState, due: int, out: Outputs) -> None:
        """The journey is back to empty (or an anonymous one ran out its time): it goes, but
        for the events it holds, which a fresh journey applies."""
        out.counts[Count.EXPIRED] += 1
        if self.propensity is not None:
            retire(state, due, out)
        if state.held:
            empty(state)
            self._touched(state)
        else:
            self._drop(state.key)

    def _drop(self, key: str) -> None:
        """Take `key` out of the table; `snapshot` names it so the runner writes a tombstone."""
        del self.states[key]
        self.timers.schedule(key, None)
        self.identity.drop(key)
        self.dirty.add(key)

    # -- analytics ------------------------------------------------------------

    def _tally(self, out: Outputs, until: int | None = None) -> None:
        """Count `out.facts` (all from this engine) into the analytics, and put the records
        of windows closed by now (or by `until`) in `out.analytics`."""
        table = self.analytics
        if table is None:
            out.facts.clear()
            return
        if out.facts:
            refused = table.too_late
            table.add(out.facts)
            out.facts.clear()
            if table.too_late > refused:
                out.counts[Count.ANALYTICS_TOO_LATE] += table.too_late - refused
        now = self.now if until is None else until
        if now >= table.next_pass:
            out.analytics += table.close(now, self._settled(now))
        elif table.urgent:
            out.analytics += table.write_urgent(now)

    def _settled(self, now: int) -> int:
        """The earliest event time a fact may still come for: a journey waiting for a stitch
        (its held work is counted once it arrives), a decision due and not taken yet."""
        pending = [self.identity.pending_since(), self.timers.next_deadline()]
        return min([t for t in pending if t is not None], default=now)
