"""Pure fetch-scheduling decisions: backoff, jitter and when to follow a permanent redirect.

No I/O here; the scheduler and the refresh code feed in what they stored and act on the answer.
"""

from __future__ import annotations

import hashlib
import math

# Past this many doublings the delay is astronomically above any sane max_delay anyway; capping
# the exponent keeps the arithmetic cheap for a source that has failed for years.
_MAX_DOUBLINGS = 62

# The longest wait a server's Retry-After gets: a week. A server asking for years (or
# for a date in 9999) would otherwise silently retire a subscription, and overflow the clock.
RETRY_AFTER_MAX = 7 * 86400

# The spread never exceeds five minutes: a day-long interval should not drift by hours.
_MAX_JITTER = 300.0


def next_delay(
    interval: int,
    failures: int,
    retry_after: float | None = None,
    *,
    max_delay: int = 86400,
) -> float:
    """Seconds until a source's next attempt.

    ``interval`` when the last refresh succeeded (``failures == 0``); otherwise exponential
    backoff, ``interval * 2**failures`` capped at ``max_delay`` (but never below ``interval``:
    a weekly source does not speed up because it failed). A server's ``Retry-After`` is a
    floor: we never come back sooner than it asked, up to ``RETRY_AFTER_MAX`` (or the
    interval, if longer).
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval}")
    if failures < 0:
        raise ValueError(f"failures must not be negative, not {failures}")
    cap = max(max_delay, interval)
    if failures == 0:
        delay = float(interval)
    else:
        delay = float(min(interval * 2 ** min(failures, _MAX_DOUBLINGS), cap))
    if retry_after is not None and retry_after > delay:
        delay = min(float(retry_after), float(max(RETRY_AFTER_MAX, interval)))
    return delay


def jitter(interval: int, key: str) -> float:
    """A per-source offset in ``[0, min(interval * 0.1, 300))`` seconds.

    Derived from a hash of the source key, so it is the same on every run and every machine
    (Python's ``hash()`` is salted per process), yet spreads many sources with the same
    interval instead of firing them all in the same second.
    """
    bound = min(interval * 0.1, _MAX_JITTER)
    if bound <= 0:
        return 0.0
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    # 53 bits fit a float's mantissa exactly, so the fraction is strictly below 1.
    fraction = (int.from_bytes(digest[:8], "big") >> 11) / float(1 << 53)
    offset = fraction * bound
    if offset >= bound:  # float rounding of fraction * bound can land on the bound itself
        offset = math.nextafter(bound, 0.0)
    return offset


def redirect_decision(stored_pending: str | None, seen_permanent: str | None) -> tuple[str | None, bool]:
    """Decide what a fetch's permanent redirect means for the stored URL.

    A 301/308 only moves a source when it is seen on two consecutive fetches (a one-off
    misconfiguration must not lose a subscription). ``stored_pending`` is the target seen on the
    previous fetch, if any; ``seen_permanent`` is this fetch's ``permanent_redirect``.

    Returns ``(new pending value, update the URL now)``:
    no permanent redirect -> ``(None, False)`` (the streak is broken);
    the same target as last time -> ``(None, True)``;
    a first or different target -> ``(target, False)``.
    """
    if seen_permanent is None:
        return None, False
    if seen_permanent == stored_pending:
        return None, True
    return seen_permanent, False
