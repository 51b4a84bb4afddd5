"""The config file, and the OPML files it lists, as the running service watches them: a look
tells whether any of them changed since the last one (or a reload was asked for: SIGHUP) and
reads the config again. The service decides what to do with what it read."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path

from ..config import Config, load_config_as, usable_paths
from ..errors import ConfigError

log = logging.getLogger("aggregator.service")

Stamp = tuple[int, int, int] | None


def file_stamp(path: Path) -> Stamp:
    """What tells that a file changed (mtime, size, inode); None when it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def stamps(paths: Iterable[Path]) -> tuple[Stamp, ...]:
    return tuple(file_stamp(path) for path in paths)


def opml_named(path: Path) -> tuple[Path, ...]:
    """The OPML files a config file names, read as well as it can be (it may be the one
    that failed to load: a file it names may appear later, and is then watched too)."""
    try:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors; RecursionError: nested too deep
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return ()
    agg = data.get("aggregator")
    # only the entries that are usable paths: opml = 5, a NUL or a "~user" of no user raised here
    listed = usable_paths(agg.get("opml") if isinstance(agg, dict) else None)
    return tuple(path.parent / Path(p).expanduser() for p in listed)


class ConfigWatch:
    def __init__(self, config: Config) -> None:
        self.path = config.path
        # The config file and the OPML files it lists: an edit of any of them is a change.
        self.watched: tuple[Path, ...] = (config.path, *config.settings.opml)
        # None: the first look reads the files again (an edit made while the service
        # locked, migrated and published is taken then; an unchanged config is left alone).
        self._stamp: tuple[Stamp, ...] | None = None
        self.forced = False  # SIGHUP: read the config even if no file looks changed

    def look(self) -> Config | None:
        """The config as the files say now, when one of them changed since the last look
        (or a reload was forced); None otherwise, or when it does not load: its problems are
        logged, once, and the next change is looked at again."""
        forced, self.forced = self.forced, False
        if stamps(self.watched) == self._stamp and not forced:
            return None
        path = self.path
        read = file_stamp(path)  # before reading: an edit during the read is seen next time
        try:
            new = load_config_as(path, str(path))  # the caller logs its warnings, if it is taken
        except ConfigError as e:
            # Watched from now on are the files this version names (an OPML file it lists
            # may be written next).
            self.watched = (path, *opml_named(path))
            self._stamp = (read, *stamps(self.watched[1:]))
            for line in e.problems:
                log.error("%s", line)
            log.error("config not reloaded: the service goes on with the config it had")
            return None
        self.watched = (path, *new.settings.opml)
        self._stamp = (read, *stamps(new.settings.opml))
        return new
