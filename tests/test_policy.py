from __future__ import annotations

import pytest

from aggregator.policy import RETRY_AFTER_MAX, jitter, next_delay, redirect_decision


def test_next_delay_is_the_interval_without_failures() -> None:
    assert next_delay(600, 0) == 600.0


def test_next_delay_doubles_per_failure() -> None:
    assert next_delay(600, 1) == 1200.0
    assert next_delay(600, 2) == 2400.0
    assert next_delay(600, 3) == 4800.0


def test_next_delay_is_capped_by_max_delay() -> None:
    assert next_delay(600, 10) == 86400.0
    assert next_delay(600, 5, max_delay=3600) == 3600.0


def test_next_delay_cap_never_goes_below_the_interval() -> None:
    # A weekly source that fails must not be retried sooner than weekly.
    week = 7 * 86400
    assert next_delay(week, 1) == week
    assert next_delay(week, 4, max_delay=3600) == week


def test_next_delay_survives_absurd_failure_counts() -> None:
    assert next_delay(60, 10_000) == 86400.0


def test_retry_after_is_a_floor() -> None:
    assert next_delay(60, 0, retry_after=500) == 500.0
    assert next_delay(60, 2, retry_after=100) == 240.0  # backoff already longer
    assert next_delay(60, 2, retry_after=1000.5) == 1000.5
    assert next_delay(60, 20, retry_after=200_000) == 200_000.0  # above the cap too: the server asked
    # ... up to a week (or the interval, if longer): a server asking for years, or for a
    # date in 9999, must not retire the source (nor overflow the clock).
    assert next_delay(60, 1, retry_after=1e20) == RETRY_AFTER_MAX == 7 * 86400
    assert next_delay(60, 1, retry_after=float("inf")) == RETRY_AFTER_MAX
    assert next_delay(30 * 86400, 1, retry_after=1e12) == 30 * 86400  # a monthly source: its interval
    assert next_delay(60, 0, retry_after=None) == 60.0


@pytest.mark.parametrize(("interval", "failures"), [(0, 0), (-5, 1), (60, -1)])
def test_next_delay_rejects_nonsense(interval: int, failures: int) -> None:
    with pytest.raises(ValueError):
        next_delay(interval, failures)


def test_jitter_is_deterministic_and_in_range() -> None:
    keys = [f"source-{i}" for i in range(500)]
    offsets = [jitter(600, k) for k in keys]
    assert offsets == [jitter(600, k) for k in keys]
    assert all(0 <= o < 60 for o in offsets)
    # Spread out, not clumped: every 6-second tenth of the range gets some sources.
    assert len({int(o // 6) for o in offsets}) == 10
    assert len(set(offsets)) == len(offsets)


def test_jitter_bound_is_capped_at_five_minutes() -> None:
    offsets = [jitter(86400, f"k{i}") for i in range(300)]
    assert all(0 <= o < 300 for o in offsets)
    assert max(offsets) > 250  # the cap is 300 s, not 10 % of a day


def test_jitter_differs_per_key() -> None:
    assert jitter(3600, "nato-news") != jitter(3600, "seeds")


def test_jitter_zero_interval() -> None:
    assert jitter(0, "x") == 0.0


def test_redirect_first_sighting_is_pending() -> None:
    assert redirect_decision(None, "https://new.example/feed") == ("https://new.example/feed", False)


def test_redirect_seen_twice_in_a_row_updates() -> None:
    assert redirect_decision("https://new.example/feed", "https://new.example/feed") == (None, True)


def test_redirect_streak_broken_clears_pending() -> None:
    assert redirect_decision("https://new.example/feed", None) == (None, False)
    assert redirect_decision(None, None) == (None, False)


def test_redirect_to_a_different_target_restarts_the_streak() -> None:
    assert redirect_decision("https://a.example/feed", "https://b.example/feed") == ("https://b.example/feed", False)
