"""The ``Service``: jobs, the host gate's use, publishing, the watcher's looks, and ``run``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TextIO

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, JobEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers import SchedulerNotRunningError
from sqlalchemy.exc import OperationalError

from .. import jobs
from ..config import Config, SourceConfig
from ..errors import AggregatorError, LockedError, driver_message
from ..lock import DatabaseLock, database_lock
from ..pipeline import files_stamp, open_store, publish, refresh, sync_sources
from ..policy import next_delay
from ..store import SourceStatus, Store
from .gate import HostGate, source_host
from .health import clamp_max_age, health_document, health_entry, utcnow
from .watch import ConfigWatch

log = logging.getLogger("aggregator.service")

PUBLISH_DEBOUNCE = 1.5  # seconds: a burst of refreshes publishes once
STOP_GRACE = 6.0  # seconds running refreshes get to finish; the whole stop stays well under 10 s
# Refreshes at once, at most (and never more than max_connections). Each holds a worker
# thread for its whole fetch: a host's own bound is kept by the service (HostGate), so
# sources hanging on one host take at most max_per_host of them and never stall the others.
MAX_WORKERS = 32
WATCH_INTERVAL = 2.0  # seconds between looks at the config file and at other processes' refreshes
LOCK_CHECK_INTERVAL = 10.0  # seconds between checks that the database lock is still this service's
# What a reload cannot change in a running service: it keeps them until a restart.
RESTART_SETTINGS = ("database", "listen_host", "listen_port", "output_dir")
# The config key each of them is written as, for the log
CONFIG_KEY = {"listen_host": "listen", "listen_port": "listen"}


def subscribe_lines(config: Config) -> list[str]:
    base = config.settings.base_url
    lines = ["Subscribe:", f"  {base}/all.xml  (All items)"]
    lines += [f"  {base}/{t.slug}.xml  ({t.title})" for t in config.topics]
    lines.append(f"  {base}/index.opml  (every topic feed, for import into a reader)")
    return lines


def expected_problem(e: Exception) -> str | None:
    """One line for a failure we expect: ours (AggregatorError: a folder that cannot be
    written) or the database's (OperationalError: it cannot be reached, is locked or full,
    as its driver says it, without SQLAlchemy's dump). None for anything else, a bug,
    whose traceback is logged."""
    if isinstance(e, AggregatorError):
        return str(e) or type(e).__name__
    if isinstance(e, OperationalError):
        return driver_message(e)
    return None


class Service:
    def __init__(self, config: Config, store: Store, lock: DatabaseLock | None = None):
        self.config = config
        self.store = store
        self.lock = lock  # checked every LOCK_CHECK_INTERVAL: a PostgreSQL lock can be lost
        self.exit_code = 0
        self.sources: dict[str, SourceConfig] = {s.name: s for s in config.sources}
        settings = config.settings
        # As many workers as a reload may allow: max_connections and max_per_host are kept
        # by the service (HostGate) against the config as it is at each job.
        self.scheduler = jobs.make_scheduler(settings.database, workers=MAX_WORKERS)
        self.scheduler.add_listener(self._run_skipped,
                                    EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.gate = HostGate()
        # Held while a reload takes new sources and stores them (sync_sources), and while a
        # job reads its source and stored state: a job never sees one without the other.
        self._sources_lock = threading.Lock()
        # Sources refreshing now, and since when (monotonic), under _health_lock.
        self._running: dict[str, float] = {}
        self._held_up: set[str] = set()  # jobs running still when a next run came due (said once)
        # Each source's last refresh as the service last saw it stored: a different one was
        # stored by another process (under _health_lock).
        self._seen_fetch: dict[str, datetime | None] = {}
        self.config_watch = ConfigWatch(config)
        self._publish_pending = False  # a publish is asked for or running (under _health_lock)
        self._publish_error: str | None = None  # why the last publish failed (under _health_lock)
        self._output_seen = ""  # the published files' stamp the watcher last looked at
        self._watch_problems: dict[str, str] = {}  # what each part of a look last logged failing
        self._watch_wake: asyncio.Event | None = None
        self.stopping = threading.Event()
        self._busy = 0
        self._busy_cond = threading.Condition()
        self._health_lock = threading.Lock()
        self._health: dict[str, dict[str, Any]] = {}
        self._next_runs: dict[str, datetime] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publish_wanted: asyncio.Event | None = None
        self._publish_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="publish")
        # The watcher's own thread: a look stuck on the database (another process's long
        # write) must not hold the stop, as asyncio's default executor would at exit.
        self._watch_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="watch")
        self.abandoned = False  # set when work was still running at the end of the stop grace
        self.abandoned_refresh = False  # ... and a refresh was among it

    # -- bookkeeping shared by threads ---------------------------------------------------
    @contextmanager
    def _working(self) -> Iterator[None]:
        with self._busy_cond:
            self._busy += 1
        try:
            yield
        finally:
            with self._busy_cond:
                self._busy -= 1
                self._busy_cond.notify_all()

    def _wait_idle(self, timeout: float) -> bool:
        with self._busy_cond:
            return self._busy_cond.wait_for(lambda: self._busy == 0, timeout)

    def _note_status(self, statuses: Mapping[str, SourceStatus], names: list[str]) -> None:
        with self._health_lock:
            for name in names:
                if name in self.sources:  # a refresh that ends after a reload removed its source
                    self._health[name] = health_entry(statuses.get(name), self._next_runs.get(name))

    def _saw_fetch(self, name: str, when: datetime | None) -> bool:
        """Note ``name``'s stored last refresh; True when it is later than the one last seen.
        Never moves back: a look that read the store before a refresh wrote must not undo it."""
        with self._health_lock:
            seen = self._seen_fetch.get(name)
            if when is None or (seen is not None and when <= seen):
                return False
            self._seen_fetch[name] = when
            return True

    def _set_next_run(self, name: str, when: datetime | None) -> None:
        with self._health_lock:
            if when is None:
                self._next_runs.pop(name, None)
            else:
                self._next_runs[name] = when

    # -- what the HTTP server asks -------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The /healthz document; cheap (in-memory), since it runs on the event loop."""
        with self._health_lock:
            sources = {name: dict(entry) for name, entry in self._health.items()}
            publish_error = self._publish_error
        return health_document(sources, (n for n, s in self.sources.items() if s.enabled), publish_error)

    def max_age(self, _name: str) -> int:
        now = utcnow()
        with self._health_lock:
            runs = list(self._next_runs.values())
            if self._running or self._publish_pending:
                # A refresh just ended has its next run an interval away, but what it brought
                # is published only now: the feeds change in a moment.
                runs.append(now)
        return clamp_max_age(runs, now)

    # -- jobs (worker threads) -----------------------------------------------------------
    def refresh_job(self, name: str) -> None:
        if self.stopping.is_set():
            return
        with self._sources_lock:
            config = self.config  # a reload swaps it: this run keeps the one it started with
            src = self.sources.get(name)
            stored_url = self.store.source_state(name).url if src is not None and src.type == "feed" else None
        if src is None or not src.enabled:
            # A stale job that escaped the start-up sync: drop it rather than guess.
            self._unschedule(name, "no longer in the config")
            return
        host = source_host(src, stored_url) if src.type == "feed" else None
        if host is not None and not self.gate.enter(name, host, config.settings):
            return  # it waits for a slot (_wake_waiting), or for its next run
        try:
            with self._working():
                with self._health_lock:
                    self._running[name] = time.monotonic()
                try:
                    try:
                        # What every entry's atom:source says (a feed that renamed itself,
                        # a permanent redirect's new URL) changes the feeds as new items do.
                        source_before = self.store.sources_fingerprint([name])
                        report = refresh(config, self.store, [name])
                        outcome = report.outcomes[0] if report.outcomes else None
                        changed = bool(outcome and (outcome.new or outcome.updated or outcome.merged))
                        changed = changed or self.store.sources_fingerprint([name]) != source_before
                        ok = bool(outcome and outcome.ok)
                    except Exception as e:  # a bug or a database error must not kill the job for ever
                        problem = expected_problem(e)
                        if problem is None:
                            log.exception("source %s: refresh crashed", name)
                        else:  # the database gone (a restart, a failover), full or locked
                            log.error("source %s: refresh failed: %s", name, problem)
                        self._record_crash(src, e)
                        changed, ok = False, False
                    current = self.sources.get(name)
                    if current is not None and current.url != src.url:
                        self._start_afresh(name)  # a reload gave it a new URL while the old one was fetched
                    else:
                        self._after_refresh(src, ok)
                finally:
                    with self._health_lock:
                        self._running.pop(name, None)
                if changed:
                    self.request_publish()
        finally:
            if host is not None:
                self.gate.leave(host)
                self._wake_waiting()

    def _run_skipped(self, event: JobEvent) -> None:
        """APScheduler skipped a due run because the source's previous refresh still runs (a
        host that hangs until the fetch times out): say so once per such refresh, not at
        every due time it holds up (APScheduler's own warning is filtered out, see jobs).
        Its end (executed, or raised) makes the next one that holds up a run said again."""
        if event.code != EVENT_JOB_MAX_INSTANCES:
            with self._health_lock:
                self._held_up.discard(event.job_id)
            return
        name = next((n for n in self.sources if jobs.job_id(n) == event.job_id), event.job_id)
        with self._health_lock:
            if event.job_id in self._held_up:
                return
            self._held_up.add(event.job_id)
            started = self._running.get(name)
        # Not started yet: it waits for a worker (every one of them busy with a slow host).
        since = f" (for {time.monotonic() - started:.0f}s)" if started is not None else " (or waiting for a worker)"
        log.warning("source %s: the previous refresh is still running%s; its runs due meanwhile are "
                    "skipped until it ends", name, since)

    def _wake_waiting(self) -> None:
        """Slots came free (or a reload raised the limits): run every job in line that fits
        now (one job-table write each, where retrying every few seconds wrote it, and the
        store, dozens of times a second while a host hung)."""
        woken = self.gate.take_fitting(self.config.settings)
        for k, (name, _host) in enumerate(woken):
            try:
                self.scheduler.modify_job(jobs.job_id(name), jobstore="default", next_run_time=utcnow())
            except (JobLookupError, SchedulerNotRunningError):
                continue  # removed by a reload meanwhile
            except Exception:  # noqa: BLE001 - the job table busy (another writer): they stay in line
                log.exception("cannot wake the jobs waiting for a slot")
                self.gate.put_back(woken[k:])
                return

    def _start_afresh(self, name: str) -> None:
        """The refresh that just ended fetched the URL a reload replaced: what it stored (a
        backoff, a retirement, the old server's validators) is undone, and the new URL runs soon."""
        try:
            self.store.start_afresh(name)
            when = jobs.overdue_run_time(name, utcnow())
            with contextlib.suppress(JobLookupError):
                self.scheduler.modify_job(jobs.job_id(name), jobstore="default", next_run_time=when)
                self._set_next_run(name, when)
                self.store.set_next_run(name, when)
            self._note_refreshed(name)
        except SchedulerNotRunningError:
            pass
        except Exception:
            log.exception("source %s: cannot start its new URL afresh", name)

    def _record_crash(self, src: SourceConfig, error: Exception) -> None:
        if src.name not in self.sources:
            return  # renamed or removed by a reload while it ran: its row is not its own now
        try:
            state = self.store.source_state(src.name)
            now = utcnow()
            self.store.record_refresh(
                src.name, started=now, finished=now, ok=False, error=f"internal error: {error}",
                next_run=now + timedelta(seconds=next_delay(src.interval, state.failures + 1)))
        except Exception as e:
            problem = expected_problem(e)
            if problem is None:
                log.exception("source %s: cannot record the failure", src.name)
            else:
                log.error("source %s: cannot record the failure: %s", src.name, problem)

    def _after_refresh(self, src: SourceConfig, ok: bool) -> None:
        """Align the job with the outcome: backoff after a failure, the store with the job."""
        name = src.name
        if name not in self.sources:
            return  # renamed or removed by a reload while it ran: no job or row of that name
        try:
            state = self.store.source_state(name)
            if state.retired:
                self._unschedule(name, "retired (410 Gone)")
            elif not ok and state.next_run is not None:
                # The pipeline wrote the backoff; the interval trigger carries on from there
                # (a refresh that fails while the service stops keeps it for the restart).
                when = max(state.next_run, utcnow())
                try:
                    self.scheduler.modify_job(jobs.job_id(name), jobstore="default", next_run_time=when)
                    self._set_next_run(name, when)
                except JobLookupError:
                    pass  # a reload disabled or removed it meanwhile: no job to move
            else:
                job = self.scheduler.get_job(jobs.job_id(name), jobstore="default")
                if job is not None and job.next_run_time is not None:
                    # The store's next_run (shown by `status`) follows the scheduler's truth.
                    self.store.set_next_run(name, job.next_run_time)
                    self._set_next_run(name, job.next_run_time)
            self._note_refreshed(name)
        except (JobLookupError, SchedulerNotRunningError):
            pass  # shutting down: the persisted job keeps its schedule
        except Exception as e:
            problem = expected_problem(e)
            if problem is None:
                log.exception("source %s: cannot update its schedule", name)
            else:
                log.error("source %s: cannot update its schedule: %s", name, problem)

    def _note_refreshed(self, name: str) -> None:
        """Health from what the refresh stored, and its time as one the service saw (its
        own row only: with thousands of sources on short intervals, every refresh reading
        every row was a good part of a core)."""
        statuses = self.store.statuses(count_items=False, names=[name])
        self._note_status(statuses, [name])
        if name in statuses:
            self._saw_fetch(name, statuses[name].last_fetch)

    def _unschedule(self, name: str, why: str) -> None:
        try:
            self.scheduler.remove_job(jobs.job_id(name), jobstore="default")
            log.info("unscheduled source %s: %s", name, why)
        except (JobLookupError, SchedulerNotRunningError):
            pass
        self._set_next_run(name, None)
        self.store.set_next_run(name, None)

    # -- publishing ----------------------------------------------------------------------
    def request_publish(self) -> None:
        """Thread-safe: ask the publisher task for a publish soon."""
        loop, wanted = self._loop, self._publish_wanted
        if loop is not None and wanted is not None and not loop.is_closed():
            with self._health_lock:
                self._publish_pending = True
            try:
                loop.call_soon_threadsafe(wanted.set)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def _publish_now(self) -> None:
        if self.stopping.is_set():
            return
        with self._working():
            started = time.monotonic()
            try:
                report = publish(self.config, self.store)
            except Exception as e:
                # The folder cannot be written, the database cannot be reached: its reason
                # says it all.
                problem = expected_problem(e)
                if problem is not None:
                    log.error("publish failed: %s", problem)
                else:
                    log.exception("publish failed")
                with self._health_lock:
                    self._publish_error = problem or str(e) or type(e).__name__
                return
            else:
                with self._health_lock:
                    self._publish_error = None
            finally:
                with self._health_lock:
                    self._publish_pending = self._publish_wanted is not None and self._publish_wanted.is_set()
            if report.written or report.removed:
                done = [f"{len(names)} files {what} ({', '.join(names)})"
                        for names, what in ((report.written, "written"), (report.removed, "removed")) if names]
                log.info("publish: %s in %.2fs", ", ".join(done), time.monotonic() - started)
            else:
                log.info("publish: nothing changed")

    async def _publisher(self) -> None:
        assert self._publish_wanted is not None and self._loop is not None
        while True:
            await self._publish_wanted.wait()
            await asyncio.sleep(PUBLISH_DEBOUNCE)
            # Cleared before publishing: a change that lands during the publish asks again.
            self._publish_wanted.clear()
            await self._loop.run_in_executor(self._publish_pool, self._publish_now)

    # -- the watcher: config edits, and refreshes stored by another process ----------------
    def watch_once(self) -> None:
        """One look (a thread of its own, never the event loop): reload the config if its file
        changed; follow the sources that another process refreshed."""
        if self.stopping.is_set():
            return
        with self._working():
            for what, part in (("config reload failed", self._reload_if_changed),
                               ("cannot follow refreshes stored by another process", self._follow_other_refreshes),
                               ("cannot check the published files", self._restore_output)):
                try:
                    part()
                except Exception as e:  # noqa: BLE001 - the next look tries again; the service goes on
                    problem = expected_problem(e)
                    if problem is None:
                        log.exception(what)
                    elif self._watch_problems.get(what) != problem:
                        # Once until a look works again: a database that cannot be reached
                        # fails every look, every 2 s.
                        self._watch_problems[what] = problem
                        log.error("%s: %s", what, problem)
                else:
                    self._watch_problems.pop(what, None)

    def _reload_if_changed(self) -> None:
        new = self.config_watch.look()
        if new is None:
            return
        # The first look finds the config the service started with, mostly (its warnings
        # may name the file otherwise: they do not count).
        if dataclasses.replace(new, warnings=()) != dataclasses.replace(self.config, warnings=()):
            for warning in new.warnings:
                log.warning("%s", warning)
            self.apply_config(new)
        elif new.warnings != self.config.warnings:  # only an outline newly broken (or mended)
            for warning in set(new.warnings) - set(self.config.warnings):
                log.warning("%s", warning)
            self.config = dataclasses.replace(self.config, warnings=new.warnings)

    def apply_config(self, new: Config) -> None:
        """Take a changed config: new, removed and edited sources and their jobs, topics
        and feed settings (the next publish follows them). The database, listen address
        and output folder stay until a restart."""
        if self.stopping.is_set():
            return  # a stop came while the config was read: the next start reads it
        # Where each source reads from: a feed's URL, the seeds' path.
        old_places = {s.name: (s.url, s.path) for s in self.config.sources}
        old = self.config.settings
        kept = {name: getattr(old, name) for name in RESTART_SETTINGS if getattr(new.settings, name) != getattr(old, name)}
        if kept:
            log.warning("config: %s changed: restart the service to apply that; the rest of the change is applied",
                        ", ".join(dict.fromkeys(CONFIG_KEY.get(name, name) for name in kept)))
            new = dataclasses.replace(new, settings=dataclasses.replace(new.settings, **kept))
        # The new sources first: a refresh of an old URL that ends from here on starts its
        # source afresh, whether its outcome is stored before the new URL (which then
        # resets it again) or after. A job starting meanwhile waits for both.
        with self._sources_lock:
            self.config = new
            self.sources = {s.name: s for s in new.sources}
            sync_sources(new, self.store)
        now = utcnow()
        planned = jobs.sync_jobs(self.scheduler, new.sources, self.store.source_states(), now)
        for name in planned:
            src = self.sources[name]
            if name in old_places and old_places[name] != (src.url, src.path):
                # A new URL or path (a failing source fixed, say) starts afresh: soon, not
                # after the old one's backoff.
                planned[name] = jobs.overdue_run_time(name, now)
                with contextlib.suppress(JobLookupError):  # a worker's retirement came first
                    self.scheduler.modify_job(jobs.job_id(name), jobstore="default", next_run_time=planned[name])
        with self._health_lock:
            for name in set(self._health) - set(self.sources):
                del self._health[name]
            before = dict(self._next_runs)
        for src in new.sources:
            when = planned.get(src.name)
            if when != before.get(src.name):
                self._set_next_run(src.name, when)
                self.store.set_next_run(src.name, when)
        for name in set(before) - set(self.sources):
            self._set_next_run(name, None)
        self._note_status(self.store.statuses(count_items=False), list(self.sources))
        log.info("config reloaded: %d sources (%d scheduled), %d topics", len(new.sources), len(planned),
                 len(new.topics))
        self.request_publish()  # topics, titles or the feed settings may have changed
        self._output_seen = files_stamp(new)  # a new topic's file is not written yet: no alarm
        self._wake_waiting()  # higher limits: jobs in line may fit now

    def _follow_other_refreshes(self) -> None:
        """Sources whose stored last refresh is not the one the service last saw were
        refreshed by another process (``aggregator update`` beside ``run``): their health is
        what it stored, and their job runs when it said (a source it fixed leaves backoff)."""
        statuses = self.store.statuses(count_items=False)
        moved: list[str] = []
        for name, st in statuses.items():
            with self._health_lock:
                if name not in self.sources or name in self._running:
                    continue
                new = name not in self._seen_fetch  # added since the last look (a reload)
            if self._saw_fetch(name, st.last_fetch) and not new:
                moved.append(name)
        for name in moved:
            st = statuses[name]
            log.info("source %s was refreshed by another process", name)
            if st.retired:
                self._unschedule(name, "retired (410 Gone)")
            elif st.next_run is not None:
                when = max(st.next_run, utcnow())
                try:
                    self.scheduler.modify_job(jobs.job_id(name), jobstore="default", next_run_time=when)
                except JobLookupError:  # disabled in the config: no job to move
                    continue
                self._set_next_run(name, when)
        if moved:
            self._note_status(statuses, moved)

    def _restore_output(self) -> None:
        """A published file deleted or changed since the last publish (the folder removed,
        a feed edited by hand): publish again. Once per change seen, so a folder that cannot
        be written is not retried every few seconds."""
        now = files_stamp(self.config)
        with self._health_lock:
            pending = self._publish_pending
        if not pending and now != self._output_seen and self.store.get_meta("published_files") != now:
            # Deleted or edited by hand, or caught between another command's writes and
            # its record of them: a publish puts back what the database says.
            log.info("published files are not as the last publish left them: publishing again")
            self.request_publish()
        self._output_seen = now

    def _reload_now(self) -> None:
        """SIGHUP (on the event loop): reload the config at once, changed or not."""
        self.config_watch.forced = True
        if self._watch_wake is not None:
            self._watch_wake.set()

    async def _watcher(self) -> None:
        assert self._watch_wake is not None
        while True:
            try:
                await asyncio.wait_for(self._watch_wake.wait(), WATCH_INTERVAL)
            except asyncio.TimeoutError:
                pass
            self._watch_wake.clear()
            assert self._loop is not None
            await self._loop.run_in_executor(self._watch_pool, self.watch_once)

    async def _lock_keeper(self, stop: asyncio.Event) -> None:
        """Check the database lock now and then (``DatabaseLock.check``); stop the service,
        to exit 1, once another one holds the database. Each check runs in a daemon thread
        of its own: one still connecting to a server that does not answer holds no stop."""
        assert self.lock is not None and self._loop is not None
        loop, lock = self._loop, self.lock
        while True:
            await asyncio.sleep(LOCK_CHECK_INTERVAL)
            done: asyncio.Future[Exception | None] = loop.create_future()

            def check(done: asyncio.Future[Exception | None] = done) -> None:
                outcome: Exception | None = None
                try:
                    lock.check()
                except Exception as e:  # noqa: BLE001 - handed to the event loop
                    outcome = e

                def land() -> None:
                    if not done.done():
                        done.set_result(outcome)

                with contextlib.suppress(RuntimeError):  # the loop closed: the service stopped
                    loop.call_soon_threadsafe(land)

            threading.Thread(target=check, name="lock-check", daemon=True).start()
            problem = await done
            if isinstance(problem, LockedError):
                log.error("%s: the database lock was lost, and another service took it; stopping", problem)
                self.exit_code = 1
                stop.set()
                return
            if problem is not None:
                log.warning("checking the database lock: %s; trying again in %gs", problem, LOCK_CHECK_INTERVAL)

    # -- lifecycle -----------------------------------------------------------------------
    def start_scheduler(self) -> None:
        self.scheduler.start(paused=True)
        now = utcnow()
        planned = jobs.sync_jobs(self.scheduler, self.config.sources, self.store.source_states(), now,
                                 starting=True)
        for src in self.config.sources:
            when = planned.get(src.name)
            self._set_next_run(src.name, when)
            self.store.set_next_run(src.name, when)
        statuses = self.store.statuses(count_items=False)
        self._note_status(statuses, [s.name for s in self.config.sources])
        with self._health_lock:
            self._seen_fetch = {name: st.last_fetch for name, st in statuses.items()}
        self.scheduler.resume()
        due = sum(1 for t in planned.values() if t <= now + timedelta(seconds=300))
        log.info("scheduler started: %d sources scheduled, %d due within 5 minutes", len(planned), due)

    async def serve(self, out: TextIO) -> None:
        """Listen, schedule, and return once SIGTERM or SIGINT asked to stop."""
        from ..serve import client_limit, make_app, start_server

        self._loop = asyncio.get_running_loop()
        self._publish_wanted = asyncio.Event()
        self._watch_wake = asyncio.Event()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(sig, stop.set)
        self._loop.add_signal_handler(signal.SIGHUP, self._reload_now)  # systemctl reload
        settings = self.config.settings
        app = make_app(settings.output_dir, health=self.health, max_age=self.max_age)
        try:
            try:
                runner = await start_server(app, settings.listen_host, settings.listen_port,
                                            max_clients=client_limit(settings.max_connections))
            except OSError as e:
                raise AggregatorError(
                    f"cannot listen on {settings.listen_host}:{settings.listen_port}: {e}") from e
            publisher = asyncio.create_task(self._publisher())
            watcher: asyncio.Task[None] | None = None
            keeper: asyncio.Task[None] | None = None
            try:
                log.info("listening on %s:%d, serving %s", settings.listen_host,
                         settings.listen_port, settings.output_dir)
                print("\n".join(subscribe_lines(self.config)), file=out, flush=True)
                jobs.register(self)
                self.start_scheduler()
                watcher = asyncio.create_task(self._watcher())
                if self.lock is not None:
                    keeper = asyncio.create_task(self._lock_keeper(stop))
                await stop.wait()
                log.info("stopping")
            finally:
                self.stopping.set()
                if watcher is not None:
                    watcher.cancel()  # a look in progress finishes in its thread; _stop waits for it
                if keeper is not None:
                    keeper.cancel()
                await self._stop(runner, publisher)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                self._loop.remove_signal_handler(sig)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a reload while stopping must not kill it

    async def _stop(self, runner: Any, publisher: asyncio.Task[None]) -> None:
        deadline = time.monotonic() + STOP_GRACE
        if self.scheduler.running:
            self.scheduler.pause()  # no new job starts; running ones finish their transaction
        publisher.cancel()
        try:
            await publisher
        except asyncio.CancelledError:
            pass
        server_closed = asyncio.create_task(runner.cleanup())
        idle = await asyncio.to_thread(self._wait_idle, max(0.0, deadline - time.monotonic()))
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        jobs.unregister(self)
        await server_closed
        self._publish_pool.shutdown(wait=idle)
        self._watch_pool.shutdown(wait=idle, cancel_futures=True)
        self.abandoned = not idle
        with self._health_lock:
            self.abandoned_refresh = bool(self._running)


def run(config: Config, *, out: TextIO = sys.stdout) -> int:
    """The whole service: lock, migrate, publish, then serve and schedule until a signal.

    Raises LockedError when another service holds the database. Returns the exit code.
    """
    # A reload (SIGHUP) before the service listens for it, while it locks, migrates and
    # publishes, must not kill it (the default action): the watcher's first look reads the
    # config again, and takes an edit made meanwhile.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from ..serve import raise_open_files_limit

    raise_open_files_limit()  # before anything opens: fetches, database and readers share it
    lock = database_lock(config.settings.database)
    # The lock comes before migrating: a second service must not touch a database in use.
    lock.acquire()
    abandoned, what, code = False, "a refresh", 0
    try:
        store = open_store(config, service=True)
        try:
            started = time.monotonic()
            report = publish(config, store)
            removed = f", {len(report.removed)} removed ({', '.join(report.removed)})" if report.removed else ""
            log.info("publish: %d files written, %d unchanged%s in %.2fs before listening",
                     len(report.written), len(report.unchanged), removed, time.monotonic() - started)
            service = Service(config, store, lock)
            asyncio.run(service.serve(out))
            abandoned, code = service.abandoned, service.exit_code
            what = "a refresh" if service.abandoned_refresh else "a config reload or a publish"
        finally:
            store.close(wait=not abandoned)  # a commit stuck with that refresh must not hold the stop
    finally:
        lock.release()
    if abandoned:
        # Work stuck in I/O past the grace period: SQLite/PostgreSQL roll its open
        # transaction back, so exiting now loses nothing that was committed.
        log.warning("stopped with %s still running; its uncommitted work is discarded", what)
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    log.info("stopped")
    return code
