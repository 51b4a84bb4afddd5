"""APScheduler jobs of the service: one persistent refresh job per enabled source.

Persistent jobs are pickled into the ``apscheduler_jobs`` table, so they name their function by
an import string with only the source name as argument; the function finds the running service
through the module-level registry below. Everything here that decides *when* a source runs is a
pure function of what the store and the job table hold, tested without a scheduler.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.interval import IntervalTrigger

from .config import SourceConfig
from .db import make_engine
from .policy import jitter
from .store import SourceState

if TYPE_CHECKING:  # pragma: no cover
    from .service import Service

log = logging.getLogger(__name__)

REFRESH_FUNC = "aggregator.jobs:refresh_source"
JOB_PREFIX = "source:"
JOB_TABLE = "apscheduler_jobs"
MAX_JOB_ID = 191  # the length of that table's id column
# A job that missed its time (the machine slept, the service was down) still runs when it is
# at most this late; coalesce=True folds any number of missed runs into one.
MIN_MISFIRE_GRACE = 60
DUE_SPREAD = 10  # seconds over which sources that are already due get spread
# The bound of policy.jitter: a day-long interval must not drift by hours.
MAX_TRIGGER_JITTER = 300.0

_registry_lock = threading.Lock()
_service: Service | None = None


# -- the registry through which pickled jobs reach the running service ---------------------
def register(service: Service) -> None:
    global _service
    with _registry_lock:
        if _service is not None and _service is not service:
            raise RuntimeError("another service is already registered in this process")
        _service = service


def unregister(service: Service) -> None:
    global _service
    with _registry_lock:
        if _service is service:
            _service = None


def current_service() -> Service | None:
    with _registry_lock:
        return _service


def refresh_source(name: str) -> None:
    """The job function: refresh one source in the running service (a worker thread)."""
    service = current_service()
    if service is None:
        # A job fired after the service unregistered (shutting down): nothing to do.
        log.debug("refresh of %s skipped: no running service", name)
        return
    service.refresh_job(name)


# -- scheduling decisions ------------------------------------------------------------------
def job_id(name: str) -> str:
    """The job's id: the prefix and the source's name, or, for a name too long for
    APScheduler's id column (191 characters, which PostgreSQL enforces; the config allows
    names of 200), its beginning and a hash of the whole (``~`` is in no name)."""
    jid = JOB_PREFIX + name
    if len(jid) <= MAX_JOB_ID:
        return jid
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return f"{jid[:MAX_JOB_ID - len(digest) - 1]}~{digest}"


def first_run_time(
    name: str,
    interval: int,
    state: SourceState | None,
    now: datetime,
) -> datetime:
    """When a source that has no (usable) job yet should first run.

    The store's ``next_run`` (written by every refresh, including ``aggregator update``) is
    honoured, so a backoff survives a restart; after a success it is capped at
    ``last_success + interval`` in case the interval was shortened. A source that never ran or
    is overdue runs now (see ``overdue_run_time``).
    """
    candidate: datetime | None = None
    if state is not None and state.next_run is not None:
        candidate = state.next_run
        if state.failures == 0 and state.last_success is not None:
            candidate = min(candidate, state.last_success + timedelta(seconds=interval))
    if candidate is None or candidate <= now:
        return overdue_run_time(name, now)
    return candidate


def overdue_run_time(name: str, now: datetime) -> datetime:
    """A source that is due runs now, spread over at most ``DUE_SPREAD`` seconds by its
    deterministic jitter: "due" must not wait the minutes a day-long interval's jitter allows,
    yet a thousand due sources should not all start in the same second."""
    return now + timedelta(seconds=jitter(DUE_SPREAD * 10, name))


def trigger_jitter(interval: int) -> float:
    """The most seconds the interval trigger adds to each run after the first one.

    The same bound as ``policy.jitter`` (a tenth of the interval, at most five minutes), but at
    least a second so that short intervals spread too. Without it on the trigger, only the
    first run would be spread and every later refresh would fire on the exact interval.
    """
    return max(1.0, min(interval * 0.1, MAX_TRIGGER_JITTER))


def trigger_period(interval: int) -> timedelta:
    """The interval trigger's period: the interval less half the jitter it adds.

    APScheduler adds its jitter (0 to ``trigger_jitter``) to the previous run's time, jitter
    included: on the interval itself, a source ran on average half a jitter late every time
    (a ``1h`` source every 62.5 minutes), its schedule drifting later for ever. Half a jitter
    shorter, its runs fall around the interval, on it on average.
    """
    return timedelta(seconds=interval - trigger_jitter(interval) / 2)


def cut_short(state: SourceState | None, job_next_run: datetime, now: datetime) -> bool:
    """Did the service stop (or die) during a run of this source's job, before the refresh
    stored its outcome? APScheduler moves a job's persisted next run an interval on as the
    job starts; the refresh's outcome moves the store's next run along with it. A store's
    next run that is past, and earlier than the job's, is a run that never ended."""
    return (state is not None and state.next_run is not None
            and state.next_run <= now and state.next_run < job_next_run)


def job_matches(job: Any, name: str, interval: int) -> bool:
    """Is a stored job already the right job for this source (so its next run is kept)?

    A job stored without the trigger jitter, or on the interval itself (older versions), does
    not match: it is replaced once, starting from the store's next run.
    """
    trigger = job.trigger
    return (
        isinstance(trigger, IntervalTrigger)
        and trigger.interval == trigger_period(interval)
        and trigger.jitter == trigger_jitter(interval)
        and job.func_ref == REFRESH_FUNC
        and tuple(job.args) == (name,)
        and job.max_instances == 1
        and job.coalesce
    )


def misfire_grace(interval: int) -> int:
    return max(interval, MIN_MISFIRE_GRACE)


# -- the scheduler -------------------------------------------------------------------------
SKIPPED_MESSAGE = 'Execution of job "%s" skipped: maximum number of running instances'


class _QuietSkips(logging.Filter):
    """Drops APScheduler's warning that a job's run was skipped because its previous run still
    runs: it repeats at every due time of a source stuck in a fetch (each 10 s for a 10 s
    interval and a 30 s read timeout). The service says it once per stuck refresh instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(SKIPPED_MESSAGE))


_QUIET_SKIPS = _QuietSkips()


class _Scheduler(BackgroundScheduler):
    def _process_jobs(self) -> float | None:
        # BlockingScheduler's loop runs one more round after shutdown() before it looks at the
        # state: it would submit due jobs to the stopped executor and advance their persisted
        # next run as if they had run. A stopped scheduler processes nothing.
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()  # type: ignore[no-any-return]


def make_scheduler(database_url: str, *, workers: int) -> BackgroundScheduler:
    """A background scheduler (its own thread, so job-table I/O never blocks the HTTP loop)
    with the persistent job store on the service's database and a pool of refresh threads."""
    jobstore = SQLAlchemyJobStore(engine=make_engine(database_url), tablename=JOB_TABLE)
    logging.getLogger("apscheduler.scheduler").addFilter(_QUIET_SKIPS)  # once: filters are a set
    return _Scheduler(
        jobstores={"default": jobstore},
        executors={"default": ThreadPoolExecutor(max_workers=workers)},
        job_defaults={"coalesce": True, "max_instances": 1},
        timezone=timezone.utc,
    )


def schedule_source(scheduler: BackgroundScheduler, src: SourceConfig, first: datetime) -> None:
    scheduler.add_job(
        REFRESH_FUNC,
        trigger=IntervalTrigger(seconds=trigger_period(src.interval).total_seconds(), start_date=first,
                                timezone=timezone.utc,
                                jitter=trigger_jitter(src.interval)),
        args=(src.name,),
        id=job_id(src.name),
        name=f"refresh {src.name}",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=misfire_grace(src.interval),
        next_run_time=first,
    )


def sync_jobs(
    scheduler: BackgroundScheduler,
    sources: Iterable[SourceConfig],
    states: Mapping[str, SourceState],
    now: datetime,
    *,
    starting: bool = False,
) -> dict[str, datetime]:
    """Make the job table match the config; return each scheduled source's next run.

    Runs after ``scheduler.start(paused=True)`` so the stored jobs are visible. Jobs of removed,
    disabled or retired sources are dropped; a job whose interval changed is replaced; an
    unchanged job keeps its persisted next run (or runs now if that is already past). At the
    service's start (``starting``), a job whose last run stored no outcome runs now too, and
    one whose store says another future time (a refresh it never saw) runs then.
    """
    wanted = {s.name: s for s in sources
              if s.enabled and not (states.get(s.name) and states[s.name].retired)}
    existing = {job.id: job for job in scheduler.get_jobs(jobstore="default")}
    wanted_ids = {job_id(name) for name in wanted}
    for jid, job in existing.items():
        if jid.startswith(JOB_PREFIX) and jid not in wanted_ids:
            # A worker may have removed it first (a retirement): the service's reload runs
            # beside the jobs.
            with contextlib.suppress(JobLookupError):
                scheduler.remove_job(jid, jobstore="default")
            name = job.args[0] if job.args else jid[len(JOB_PREFIX):]
            if name not in wanted:  # else its id, stored whole before long ones were cut short (SQLite)
                log.info("unscheduled source %s (removed, disabled or retired)", name)
    planned: dict[str, datetime] = {}
    for name, src in wanted.items():
        job = existing.get(job_id(name))
        if job is not None and job_matches(job, name, src.interval):
            next_run: datetime | None = job.next_run_time
            stored = states.get(name)
            if starting and next_run is not None and cut_short(stored, next_run, now):
                next_run = None
            elif (starting and next_run is not None and stored is not None and stored.next_run is not None
                  and stored.next_run > now and abs(stored.next_run - next_run) > timedelta(seconds=1)):
                # A refresh the job never saw (`aggregator update` while the service was
                # stopped, one that ended after the stop): it runs when that one said, its
                # backoff or, a source it fixed, its interval (as a running service follows it).
                next_run = stored.next_run
                with contextlib.suppress(JobLookupError):
                    scheduler.modify_job(job.id, jobstore="default", next_run_time=next_run)
            if next_run is None or next_run <= now:
                next_run = overdue_run_time(name, now)
                with contextlib.suppress(JobLookupError):
                    scheduler.modify_job(job.id, jobstore="default", next_run_time=next_run)
            planned[name] = next_run
            continue
        first = first_run_time(name, src.interval, states.get(name), now)
        # Not a job of an older version on the same interval (its period was the interval)
        if job is not None and getattr(job.trigger, "interval", None) not in (
                trigger_period(src.interval), timedelta(seconds=src.interval)):
            log.info("rescheduling source %s: interval is now %ds", name, src.interval)
        schedule_source(scheduler, src, first)
        planned[name] = first
    return planned
