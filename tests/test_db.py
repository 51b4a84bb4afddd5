from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from aggregator.db import (
    SCHEMA_REVISION,
    alembic_config,
    create_fresh,
    current_revision,
    make_engine,
    migrate,
    sqlite_file,
)
from aggregator.errors import LockedError, StoreError
from aggregator.lock import SQLiteLock, database_lock
from aggregator.models import metadata

ROOT = Path(__file__).resolve().parent.parent


def schema(engine: Engine) -> dict[str, Any]:
    """Everything the inspector reports per table (columns by name: ALTER TABLE ADD
    COLUMN appends, so a migrated table may order them differently)."""
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], c.get("default"), c.get("primary_key"))
                        for c in insp.get_columns(table)},
            "pk": insp.get_pk_constraint(table),
            "fks": sorted(insp.get_foreign_keys(table), key=repr),
            "indexes": sorted(insp.get_indexes(table), key=lambda i: i["name"] or ""),
            "uniques": sorted(insp.get_unique_constraints(table), key=lambda u: u["name"] or ""),
            "checks": sorted(insp.get_check_constraints(table), key=repr),
        }
    return out


def alembic_upgrade(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        command.upgrade(alembic_config(conn), "head")
        conn.commit()


def test_a_fresh_database_gets_exactly_the_schema_the_migrations_make(tmp_path: Path) -> None:
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    migrated = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    alembic_upgrade(migrated)
    assert schema(fresh) == schema(migrated)
    assert current_revision(fresh) == current_revision(migrated) == SCHEMA_REVISION
    with fresh.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata) == []
    migrate(fresh)  # stamped: nothing left to do
    assert current_revision(fresh) == SCHEMA_REVISION


def test_a_database_that_already_holds_our_tables_is_left_to_alembic(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        command.upgrade(alembic_config(conn), "0001")
        conn.commit()
    assert not create_fresh(engine)
    assert current_revision(engine) == "0001"
    migrate(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    assert "match_text" not in {c["name"] for c in inspect(engine).get_columns("items")}
    assert "rule_texts" in inspect(engine).get_table_names()


def test_a_database_with_only_someone_elses_tables_counts_as_fresh(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'shared.db'}")
    with engine.begin() as conn:  # APScheduler's job store may come first
        conn.execute(text("CREATE TABLE apscheduler_jobs (id VARCHAR(191) PRIMARY KEY, job_state BLOB)"))
    assert create_fresh(engine)
    names = set(inspect(engine).get_table_names())
    assert set(metadata.tables) | {"alembic_version", "apscheduler_jobs"} == names
    assert current_revision(engine) == SCHEMA_REVISION


def test_a_schema_another_opener_commits_while_the_revision_is_read_is_read(tmp_path: Path) -> None:
    # The revision's read failed (no table yet), the other opener's schema was committed
    # before the check for the table, and the first error was raised: "no such table:
    # alembic_version" from one of two processes started at once on a new file.
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'race.db'}"
    engine = make_engine(url)

    @event.listens_for(engine, "handle_error")
    def other_opener_commits(context: Any) -> None:
        event.remove(engine, "handle_error", other_opener_commits)
        assert create_fresh(make_engine(url))

    assert current_revision(engine) == SCHEMA_REVISION


def test_two_openers_of_one_new_file_both_end_with_one_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.db'}"
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            migrate(make_engine(url))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    assert current_revision(engine) == SCHEMA_REVISION


def test_opening_a_new_database_does_not_import_alembic(tmp_path: Path) -> None:
    # Alembic (with Mako and Pygments) is ~10 MiB of resident memory a refresh never needs.
    url = f"sqlite:///{tmp_path / 'new.db'}"
    code = (
        "import sys\n"
        "from aggregator.store import Store\n"
        f"Store.open({url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert current_revision(make_engine(url)) == SCHEMA_REVISION


def test_an_installed_wheel_carries_the_migrations_and_upgrades_an_old_database(tmp_path: Path) -> None:
    # A plain `pip install .` (no -e) must upgrade a database from an older release: the
    # wheel ships migrations/ as aggregator/migrations. Built from a copy of the sources
    # (no network: the test extra installs setuptools), then imported from where it unpacks.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("aggregator", "migrations"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "--wheel-dir", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("aggregator-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    expected = {f"aggregator/migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")}
    assert expected and expected <= names
    assert {"aggregator/migrations/env.py", "aggregator/migrations/script.py.mako"} <= names
    # pyproject lists the packages by name: a new subpackage must be listed there too.
    code = {p.relative_to(ROOT).as_posix() for p in (ROOT / "aggregator").rglob("*.py")}
    assert code <= names, sorted(code - names)

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = make_engine(url)
    with old.connect() as conn:  # a database left by a release at revision 0004
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0004")
        conn.commit()
    assert current_revision(old) == "0004"
    code = (
        "import aggregator.db as db\n"
        "print(db.__file__)\nprint(db.MIGRATIONS_DIR)\n"
        f"db.migrate(db.make_engine({url!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(site)})
    module, migrations = out.stdout.split()
    assert Path(module) == site / "aggregator" / "db.py"  # the unpacked wheel, not this checkout
    assert Path(migrations) == site / "aggregator" / "migrations"
    assert current_revision(old) == SCHEMA_REVISION


@pytest.mark.parametrize(("url", "file"), [
    ("sqlite:////var/lib/agg.db", "/var/lib/agg.db"),
    ("sqlite:///rel/agg.db", "rel/agg.db"),
    ("sqlite:///file:/var/lib/my%20agg.db?uri=true&mode=rw", "/var/lib/my agg.db"),  # a URI filename, decoded
    ("sqlite:///file:///var/lib/agg.db?uri=true", "/var/lib/agg.db"),
    ("sqlite:///file:agg.db", "file:agg.db"),  # without uri=true, a file of that name
    ("sqlite:///file:mem1?mode=memory&cache=shared&uri=true", None),
    ("sqlite:///file::memory:?cache=shared&uri=true", None),
    ("sqlite:///:memory:", None),
    ("sqlite://", None),
    ("postgresql://u@db.example/agg", None),
])
def test_the_file_a_sqlite_url_opens(url: str, file: str | None) -> None:
    assert sqlite_file(url) == (None if file is None else Path(file))


def test_a_sqlite_uri_filename_is_locked_and_its_folder_checked(tmp_path: Path) -> None:
    # `run` holds a lock beside the file however the URL names it (a URI filename was not locked).
    url = f"sqlite:///file:{tmp_path}/agg.db?uri=true"
    lock = database_lock(url)
    assert isinstance(lock, SQLiteLock) and lock.database == tmp_path / "agg.db"
    lock.acquire()
    try:
        with pytest.raises(LockedError):
            database_lock(url).acquire()
    finally:
        lock.release()
    with pytest.raises(StoreError, match=f"^database folder {tmp_path}/missing does not exist$"):
        make_engine(f"sqlite:///file:{tmp_path}/missing/agg.db?uri=true")


@pytest.mark.parametrize(("start", "fail_at"), [("0001", 1), ("0001", 3), ("0001", 5), ("0004", 1)])
def test_an_upgrade_cut_short_leaves_the_old_schema_and_can_run_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: str, fail_at: int
) -> None:
    # A crash, Ctrl-C or a full disk in the middle of an upgrade: every CREATE and ALTER
    # before it is rolled back with the rest (each used to commit on its own, and the
    # half-changed schema under the old revision failed every later attempt).
    import alembic.op

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), start)
        conn.commit()
    before = schema(engine)
    real, calls = alembic.op.batch_alter_table, []

    def full_disk_on_call_n(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == fail_at:
            raise sqlite3.OperationalError("database or disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(alembic.op, "batch_alter_table", full_disk_on_call_n)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        migrate(engine)
    assert current_revision(engine) == start and schema(engine) == before
    monkeypatch.setattr(alembic.op, "batch_alter_table", real)
    migrate(engine)
    assert current_revision(engine) == SCHEMA_REVISION


def test_an_upgrade_says_in_the_log_from_which_revision_and_how_long_it_took(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The service upgrades the schema as it starts: on a large database that is minutes of
    # silence, and the journal never said the upgrade had happened (Alembic's own lines are
    # kept out of the log). A database already at the newest revision says nothing.
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0005")
        conn.commit()
    with caplog.at_level("INFO", logger="aggregator.db"):
        migrate(engine)
    upgrading = [r.getMessage() for r in caplog.records if "upgrad" in r.getMessage()]
    assert upgrading[0] == f"upgrading the database schema from revision 0005 to {SCHEMA_REVISION}"
    assert upgrading[1].startswith(f"the database schema is at revision {SCHEMA_REVISION}, upgraded in ")
    caplog.clear()
    with caplog.at_level("INFO", logger="aggregator.db"):
        migrate(engine)
    assert caplog.records == []


def test_an_upgrade_interrupted_in_a_table_copy_says_so_and_leaves_the_old_schema(tmp_path: Path) -> None:
    # Ctrl-C while Alembic's batch mode copies a table (0003 and 0005 copy items: minutes on
    # a large database) invalidates the connection; Alembic then drops its temporary table on
    # it, and that failure ("Can't reconnect until invalid transaction is rolled back. Please
    # rollback() fully ...") was what the command printed, as if the database were broken.
    from sqlalchemy import event

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0002")
        conn.commit()
    before = schema(engine)

    def ctrl_c(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("INSERT INTO _alembic_tmp_items"):
            raise KeyboardInterrupt

    event.listen(engine, "before_cursor_execute", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        migrate(engine)
    event.remove(engine, "before_cursor_execute", ctrl_c)
    assert current_revision(engine) == "0002" and schema(engine) == before
    migrate(engine)
    assert current_revision(engine) == SCHEMA_REVISION


def test_an_upgrade_that_runs_out_of_room_says_so_and_leaves_the_old_schema(tmp_path: Path) -> None:
    # A full disk (here: a limit on the size of a file, which SQLite reports as an I/O error)
    # while batch mode copies the items table rolls SQLite's whole transaction back; Alembic's
    # cleanup then drops a temporary table no longer there, and `migrate` said "no such
    # table: _alembic_tmp_items" instead of what went wrong.
    import resource

    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        command.upgrade(alembic_config(conn), "0002")
        conn.execute(text("INSERT INTO sources (id, name, type, failures, retired) VALUES (1, 'one', 'feed', 0, 0)"))
        conn.exec_driver_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) "
            "INSERT INTO items (id, uid, source_id, title, content, content_type, truncated, first_seen, published, "
            "updated, classified) SELECT i, 'u' || i, 1, 't', printf('%.1000c', 'x'), 'text', 0, "
            "'2025-01-01 00:00:00', '2025-01-01 00:00:00', printf('2025-01-01 00:00:00.%06d', i), 1 FROM n")
        conn.commit()
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = schema(engine)
    engine.dispose()
    config = tmp_path / "aggregator.toml"
    config.write_text('[aggregator]\ndatabase = "sqlite:///old.db"\n[[sources]]\nname = "one"\n'
                      'url = "http://one.test/feed"\n', encoding="utf-8")
    room = db.stat().st_size + 2**20  # less than the copy of items needs
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    done = subprocess.run([sys.executable, "-m", "aggregator.cli", "--config", str(config), "migrate"],
                          capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (room, hard)))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"aggregator: database {db}: disk I/O error", done.stderr
    assert current_revision(engine) == "0002" and schema(engine) == before
    migrate(engine)
    assert current_revision(engine) == SCHEMA_REVISION
