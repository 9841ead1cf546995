from pipeline.domain import TimerQueue


def test_each_key_fires_once_at_its_latest_deadline_in_order():
    timers = TimerQueue()
    timers.schedule("a", 30)
    timers.schedule("b", 10)
    timers.schedule("a", 20)
    timers.schedule("c", 5)
    timers.schedule("c", None)
    assert timers.next_deadline() == 10
    assert timers.pop_due(25) == ["b", "a"]
    assert timers.pop_due(100) == []
    assert len(timers) == 0
