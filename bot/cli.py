"""Command line: ``python -m bot [run|chat|ask|check|backup|restore|...]`` (also installed as
``serang-bot``).

Without a subcommand it runs the Telegram bot when TELEGRAM_BOT_TOKEN is set, and the console
chat otherwise.

Exit codes: 0 done; 1 a config error or problems found (``check``, ``screen``); 2 bad usage or
an unreadable input file; 130 interrupted. When the data directory cannot be opened, one line
(file, problem, fix) goes to stderr, no traceback, and the code says which kind of problem:
3 a damaged data file (kept as it is, a ``.damaged`` copy beside it), 4 the data directory (or
the PostgreSQL database) is in use by another process, 5 a directory where a data file should
be or a file where the data directory should be, 6 no permission (mode, another owner), 7 the
system refused otherwise (disk full, read-only, I/O error) or the PostgreSQL server cannot be
reached, 8 another storage error, 9 the PostgreSQL schema is behind (``python -m bot migrate``)
or ahead of this version. ``copy-data`` exits 1 when the target is not empty (without
``--force``) or the counts differ (nothing is kept then). ``pg-backup`` exits 1 when the dump
fails or does not read back (nothing is kept then); ``pg-verify`` exits 1 when the dump is
damaged or the restored database's documents differ from those counted at the dump.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from bot.config import LANGUAGES, Config, ConfigError, load_config
from bot.logging_setup import register_secret, setup_logging

log = logging.getLogger("bot")

Command = Callable[[argparse.Namespace, Config], int]


#: Start-up retries while the Bot API cannot be reached: 1, 2, 4 ... seconds, at most a minute.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """The Telegram bot: long polling, or a webhook when BOT_WEBHOOK_URL is set."""
    if not config.token:
        print("TELEGRAM_BOT_TOKEN is not set; `python -m bot chat` starts the console chat.")
        return 2
    import time

    from telegram import Update

    if config.database_url:  # refuse a schema that is behind before anything starts
        from store.pg import check_database

        check_database(config.database_url)
    from telegram.error import BadRequest, InvalidToken, NetworkError

    from bot.app import build_application
    from bot.webhook import HttpSettings, WebhookConfigError, serve

    try:
        settings = HttpSettings.from_env(os.environ, config.data_dir)
    except (WebhookConfigError, OSError) as exc:
        print(f"environment: {exc}", file=sys.stderr)
        return 1

    # PTB logs its own failed start-up with a traceback; the retry below says it in one line.
    logging.getLogger("telegram.ext").addFilter(
        lambda record: "Failed run number" not in record.getMessage()
    )
    delay = RETRY_FIRST_SECONDS
    while True:
        app = build_application(config)
        try:
            if settings is None:  # plain long polling, PTB's own loop
                app.run_polling(
                    allowed_updates=Update.ALL_TYPES, drop_pending_updates=False, close_loop=False
                )
            else:  # the webhook, or polling with /healthz, /readyz and /metrics
                asyncio.run(serve(app, settings))
            return 0
        except InvalidToken:  # its message quotes the token: say what to do, never the token
            print(
                "Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather (not shown here).",
                file=sys.stderr,
            )
            return 3
        except BadRequest as exc:  # e.g. setWebhook refused the URL (https, port 443/80/88/8443)
            print(f"Telegram refused a start-up request: {exc.message}", file=sys.stderr)
            return 1
        except NetworkError as exc:  # the Bot API is unreachable at start-up: wait and retry
            log.warning("the Bot API cannot be reached (%s); retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    """The console chat with the same bot."""
    from bot.console import run_console

    if not args.verbose:  # the console is for the conversation; logs would drown it
        logging.getLogger().setLevel(logging.WARNING)
    asyncio.run(run_console(config))
    return 0


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    """Answer questions exactly as the bot would, from the arguments or one per line of stdin
    (with what staff taught it and the programme status update, read from the data)."""
    from bot.answers import compose_reply, set_values, values_of
    from bot.i18n import Texts
    from bot.teaching import LEARNED_KEY, NAMESPACE, STATUS_KEY, read_status
    from bot.telegram_html import to_plain
    from faq.learning import Learned
    from faq.matcher import Matcher
    from faq.model import load_knowledge_base

    # placeholders such as {retention_days} shown with this config's values (faq.render)
    texts = Texts.load()
    values = values_of(config.retention_days, config.office.as_dict())
    set_values(values)
    kb = load_knowledge_base(values=values)
    # what staff taught and the status update, as the running bot has them (bot.teaching)
    learned = _kv_value(config, NAMESPACE, LEARNED_KEY)
    status = _kv_value(config, NAMESPACE, STATUS_KEY)
    matcher = Matcher(
        kb,
        threshold=config.faq.threshold,
        margin=config.faq.margin,
        max_suggestions=config.faq.max_suggestions,
        taught=Learned.from_json(learned if isinstance(learned, dict) else None, kb).taught(),
    )
    shown_status = read_status(status if isinstance(status, dict) else None)
    lang = args.lang or config.default_language
    questions = (
        [" ".join(args.question)] if args.question else (line.rstrip("\n") for line in sys.stdin)
    )
    for question in questions:
        reply = compose_reply(texts, kb, matcher, question, lang, shown_status)
        match = reply.match
        text = to_plain(reply.text)
        if args.json:
            record = {
                "question": question,
                "answer": text,
                "kind": match.kind if match else "input",
                "entry": match.entry.id if match and match.entry else None,
                "score": round(match.score, 1) if match else 0.0,
                "suggestions": [e.id for e in match.suggestions] if match else [],
            }
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(f"? {question}\n{text}\n", flush=True)
    return 0


def cmd_check(args: argparse.Namespace, config: Config) -> int:
    """Validate the config (already loaded) and every content file; exit 1 on any problem."""
    from bot.validation import validate_all
    from faq.model import STALE_AFTER_DAYS, load_knowledge_base, stale_entries

    problems = validate_all()
    for problem in problems:
        print(problem)
    if not problems:  # facts not re-checked for a long time: a warning, not a failure
        days = args.faq_stale_days if args.faq_stale_days is not None else STALE_AFTER_DAYS
        for warning in stale_entries(load_knowledge_base(), date.today(), days):
            print(f"warning: {warning}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    print(f"{config.path}: ok; all content files: ok")
    return 0


def cmd_faq_learned(args: argparse.Namespace, config: Config) -> int:
    """What staff taught the bot in ``/pertanyaan``, as ``faq/data/learned.yaml`` (stdout), to
    review and commit; read without the lock, so also while the bot runs (embedded store)."""
    from bot.teaching import LEARNED_KEY, NAMESPACE
    from faq.learning import Learned
    from faq.model import LEARNED_FILE, load_knowledge_base

    value = _kv_value(config, NAMESPACE, LEARNED_KEY)
    learned = Learned.from_json(value if isinstance(value, dict) else None, load_knowledge_base())
    if not learned.items:
        where = "the database" if config.database_url else config.data_dir
        print(
            f"Nothing taught yet in {where}: staff teach the bot with 🎓 in /pertanyaan.",
            file=sys.stderr,
        )
        return 0
    print(learned.to_yaml(), end="")
    print(
        f"{len(learned.items)} taught question(s), every one taught so far: review, then save "
        f"as faq/data/{LEARNED_FILE} (replacing it) and commit.",
        file=sys.stderr,
    )
    return 0


def _kv_value(config: Config, namespace: str, key: str) -> object:
    """One value of the bot's key/value store: read without the store's lock from the embedded
    files (the bot may be running), or through the stores on PostgreSQL."""
    from store import Stores
    from store.backup import read_store, store_names

    if config.database_url:
        with Stores.open(config.data_dir, database_url=config.database_url) as stores:
            return stores.kv.get(namespace, key)
    if not config.data_dir.is_dir() or "kv" not in store_names(config.data_dir):
        return None
    doc = read_store(config.data_dir, "kv").get(namespace, {}).get(key)
    return None if doc is None else doc["value"]


def cmd_screen(args: argparse.Namespace, config: Config) -> int:
    """Evaluate a profile (answers by question id, YAML or JSON) with the current rules.

    Exit 0, 1 when some answers could not be read (the rest is still evaluated), 2 when the
    file itself could not be read.
    """
    import yaml

    from screening.engine import Engine
    from screening.report import evaluation_to_dict, format_evaluation

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
        answers = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        print(f"{path}: cannot read the answers: {exc}", file=sys.stderr)
        return 2
    if not isinstance(answers, dict):
        print(f"{path}: expected a mapping of question id -> answer", file=sys.stderr)
        return 2
    consent = bool(answers.pop("consent", True)) and not args.no_consent
    # A profile may carry the day of the check and a fixed reference date; options win.
    today, reference = answers.pop("today", None), answers.pop("reference_date", None)
    try:
        today = args.today or (today and date.fromisoformat(str(today)))
        reference = args.reference_date or (reference and date.fromisoformat(str(reference)))
    except ValueError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    engine = Engine.default(
        config.reference_date, reference_date=reference, today=today, tz=config.tz
    )
    _, problems = engine.normalise(answers)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    evaluation = engine.evaluate(answers, consent=consent)
    lang = args.lang or config.default_language
    if args.json:
        report = {**evaluation_to_dict(evaluation, lang), "problems": problems}
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(format_evaluation(evaluation, lang))
    return 1 if problems else 0


def cmd_purge(args: argparse.Namespace, config: Config) -> int:
    """Retention: anonymise registrations and delete screenings, questions, idle users,
    subscriptions and closed handoff tickets not updated for DAYS (default
    privacy.retention_days); print the counts."""
    from store import StoreError, Stores

    days = args.older_than if args.older_than is not None else config.retention_days
    if days < 1:
        print("--older-than must be at least 1 day", file=sys.stderr)
        return 2
    try:
        with Stores.open(config.data_dir, database_url=config.database_url) as stores:
            counts = stores.purge(days)
    except StoreError as exc:  # e.g. the bot is running on this data directory
        print(exc, file=sys.stderr)
        return exc.exit_code
    print(f"purge: older than {days} days in {config.data_dir}")
    for kind, count in counts.items():
        print(f"{kind}: {count}")
    return 0


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    """Registrations to a CSV or XLSX file (created 0600), with a progress bar on stderr."""
    from tqdm import tqdm

    from desk.files import write_export
    from desk.filters import filter_choices
    from store import StoreError, Stores
    from store.stores import SYSTEM_ACTOR

    values = {field: getattr(args, field) for field in ("programme", "outcome", "kecamatan")}
    values["status"] = args.status
    for field, known in filter_choices().items():
        if values[field] is not None and values[field] not in known:
            known_values = ", ".join(known)
            print(f"--{field}: unknown {values[field]!r} (known: {known_values})", file=sys.stderr)
            return 2
    try:
        stores = Stores.open(config.data_dir, database_url=config.database_url)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    with stores:
        records = stores.registrations.search(**values, since=args.since, until=args.until)
        lang = args.lang or config.default_language
        try:
            with tqdm(total=len(records), unit="rows", file=sys.stderr, disable=args.quiet) as bar:
                rows = write_export(
                    records,
                    Path(args.out),
                    args.format,
                    lang=lang,
                    names=getattr(config.staff, "names", None),
                    progress=lambda written: bar.update(written - bar.n),
                )
        except OSError as exc:
            print(f"{args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        details = {"format": args.format, "rows": rows, "via": "cli"}
        stores.audit.record(SYSTEM_ACTOR, "export", None, details)
    print(f"{args.out}: {rows} registrations")
    return 0


def cmd_stats(args: argparse.Namespace, config: Config) -> int:
    """Registration statistics as text; the chart as a PNG with --png FILE."""
    from datetime import datetime

    from bot.telegram_html import to_plain
    from desk.stats import PeriodError, format_stats, gather_stats, parse_period
    from store import StoreError, Stores

    today = datetime.now(config.tz).date()
    try:
        period = parse_period(args.period, today)
    except PeriodError:
        print(
            f"period: cannot use {' '.join(args.period)!r} (e.g. 7, 30, semua, or "
            "01-11-2026 30-11-2026)",
            file=sys.stderr,
        )
        return 2
    try:
        stores = Stores.open(config.data_dir, database_url=config.database_url)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    with stores:
        stats = gather_stats(stores, today, period)
    lang = args.lang or config.default_language
    print(to_plain(format_stats(stats, lang)))
    if args.png:
        from desk.charts import render_chart

        render_chart(stats, Path(args.png), lang)
        print(f"\n{args.png}: chart written")
    return 0


def cmd_backup(args: argparse.Namespace, config: Config) -> int:
    """Back up the embedded store into FILE (0600), consistent while the bot runs."""
    import time

    from store.backup import write_backup

    started = time.perf_counter()
    try:
        manifest = write_backup(config.data_dir, Path(args.file))
    except OSError as exc:
        print(f"{args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"{args.file}: {len(manifest.stores)} stores from {config.data_dir} in {seconds:.1f} s")
    for name, info in manifest.stores.items():
        counts = ", ".join(f"{table} {n}" for table, n in info["counts"].items()) or "empty"
        print(f"  {name}: {counts}")
    return 0


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    """Replace the embedded store by a backup (the bot must be stopped); verify it first and
    open the result as the bot would."""
    from store import Stores
    from store.backup import restore_backup

    manifest, aside = restore_backup(Path(args.file), config.data_dir)
    with Stores.open(config.data_dir) as stores:  # recovers and verifies, as the bot would
        found = {
            name: {t: len(db.table(t)) for t in db.table_names()}
            for name, db in stores.databases.items()
            if name in manifest.stores
        }
    expected = manifest.counts()
    if found != expected:
        print(f"{config.data_dir}: counts after the restore differ: {found}", file=sys.stderr)
        return 3
    registrations = expected.get("registrations", {}).get("registrations", 0)
    print(
        f"{config.data_dir}: restored {len(expected)} stores from {args.file} "
        f"(taken {manifest.created_at}; {registrations} registrations); counts verified"
    )
    if aside is not None:
        print(f"the previous data was moved to {aside}: delete it once you no longer need it")
    return 0


def _database_url(args: argparse.Namespace, config: Config) -> str | None:
    url: str | None = getattr(args, "database_url", None) or config.database_url
    if not url:
        print(
            "No PostgreSQL database: set BOT_DATABASE_URL=postgresql://... (or --database-url).",
            file=sys.stderr,
        )
    return url


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    """Apply the schema migrations of store/migrations to the PostgreSQL database (or, with
    --status, only say where it stands); prints the version."""
    from store.pg import check_schema, connect, describe, latest_version, migrate, schema_version

    url = _database_url(args, config)
    if not url:
        return 2
    where, latest = describe(url), latest_version()
    if args.status:
        with connect(url) as conn:
            found = schema_version(conn)
            print(f"{where}: schema version {found}, this bot needs {latest}")
            check_schema(conn, where)  # StoreSchemaError: exit 9 when behind or ahead
        return 0
    before, applied = migrate(url)
    for migration in applied:
        print(f"applied {migration.version:04d}_{migration.name}")
    print(f"{where}: schema version {latest} (was {before})")
    return 0


def cmd_copy_data(args: argparse.Namespace, config: Config) -> int:
    """Copy the embedded data directory into a (migrated) PostgreSQL database in one
    transaction, verify the counts per collection and print them."""
    from store import Stores
    from store.pg import copy_stores, describe

    source = Path(args.source) if args.source else config.data_dir
    if not source.is_dir():
        print(f"{source}: no data directory here (--from DIR)", file=sys.stderr)
        return 2
    register_secret(_password(args.to))
    with Stores.open(source) as stores:  # locked: the bot must be stopped
        counts = copy_stores(stores, args.to, force=args.force)
    width = max((len(f"{c.store}/{c.collection}") for c in counts), default=0)
    for count in counts:
        name = f"{count.store}/{count.collection}"
        print(f"{name:<{width}}  {count.source:>9}  {count.target:>9}  ok")
    total = sum(count.target for count in counts)
    print(f"{source} -> {describe(args.to)}: {total} documents in {len(counts)} collections")
    return 0


#: ``pg-backup``'s files: ``serang-bot-<UTC time>.dump`` and its ``.json`` beside it.
PG_DUMP_PREFIX = "serang-bot-"
PG_DUMP_SUFFIX = ".dump"
#: How many dumps ``pg-backup`` keeps by default (one a day: two weeks).
PG_DUMP_KEEP = 14


def _pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on PATH (Debian's wrapper), else the newest version's."""
    import glob
    import shutil

    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return versions[-1] if versions else name


def _pg_client(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and an environment with it
    (``PGPASSWORD``), so that no password shows in ``ps``."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return make_conninfo(**params), env


def _pg_list(file: Path) -> str | None:
    """``pg_restore --list`` of a dump: None when it cannot be read or holds no ``docs`` data."""
    import subprocess

    try:
        done = subprocess.run(
            [_pg_tool("pg_restore"), "--list", str(file)],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:  # no pg_restore: cmd_pg_backup has said so already
        return None
    if done.returncode != 0 or "TABLE DATA public docs" not in done.stdout:
        return None
    return done.stdout


def _sync_write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def cmd_pg_backup(args: argparse.Namespace, config: Config) -> int:
    """The daily logical backup of the PostgreSQL database: ``pg_dump -Fc`` into
    DIR/serang-bot-<UTC time>.dump (0600, DIR 0700), with the document count of every
    collection as of the dump's own snapshot in a ``.json`` beside it (``pg-verify`` compares a
    restored database with it); the dump is read back (``pg_restore --list``) before it takes
    its name, and only the last ``--keep`` dumps stay."""
    import hashlib
    import stat
    import subprocess
    import time
    from datetime import UTC, datetime

    from store.pg import check_schema, connect, describe

    url = _database_url(args, config)
    if not url:
        return 2
    register_secret(_password(url))
    if args.keep < 1:
        print("--keep: at least 1", file=sys.stderr)
        return 2
    directory = Path(args.directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        mode = stat.S_IMODE(directory.stat().st_mode)
    except OSError as exc:
        print(f"{directory}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if mode & 0o077:
        print(
            f"{directory}: mode {mode:04o}, others may read the dumps (personal data):"
            f" chmod 0700 {directory}",
            file=sys.stderr,
        )
        return 1
    started = time.perf_counter()
    taken = datetime.now(UTC)
    name = f"{PG_DUMP_PREFIX}{taken:%Y%m%dT%H%M%SZ}"
    final, partial = directory / f"{name}{PG_DUMP_SUFFIX}", directory / f".{name}.partial"
    sidecar = final.with_suffix(".json")
    if final.exists():
        print(f"{final}: exists already (one dump a second)", file=sys.stderr)
        return 1
    where = describe(url)
    conninfo, env = _pg_client(url)
    with connect(url) as conn:
        version = check_schema(conn, where)  # exit 9 when this bot does not know the schema
        # One snapshot for the counts and for pg_dump: they describe the same moment.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        rows = conn.execute(
            "SELECT store, coll, count(*) FROM docs GROUP BY store, coll ORDER BY store, coll"
        ).fetchall()
        counts = {f"{store}/{coll}": int(n) for store, coll, n in rows}
        assert row is not None
        try:
            done = subprocess.run(
                [
                    _pg_tool("pg_dump"),
                    "-Fc",
                    f"--snapshot={row[0]}",
                    f"--file={partial}",
                    conninfo,
                ],
                capture_output=True,
                text=True,
                check=False,
                env=env,
            )
        except OSError as exc:
            print(
                f"pg_dump: {exc.strerror or exc} (apt-get install postgresql-client)",
                file=sys.stderr,
            )
            return 1
        finally:
            conn.execute("COMMIT")
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        print(f"{where}: pg_dump failed: {done.stderr.strip()[-500:]}", file=sys.stderr)
        return 1
    os.chmod(partial, 0o600)
    with open(partial, "rb") as dump:
        os.fsync(dump.fileno())
    if _pg_list(partial) is None:
        partial.unlink(missing_ok=True)
        print(f"{partial}: pg_restore --list cannot read the dump back", file=sys.stderr)
        return 1
    digest = hashlib.sha256(partial.read_bytes()).hexdigest()
    manifest = {
        "database": where,
        "taken_at": taken.isoformat(timespec="seconds"),
        "schema_version": version,
        "file": final.name,
        "bytes": partial.stat().st_size,
        "sha256": digest,
        "counts": counts,
    }
    _sync_write(sidecar, (json.dumps(manifest, indent=1) + "\n").encode())
    os.replace(partial, final)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    for stale in directory.glob(f".{PG_DUMP_PREFIX}*.partial"):  # from a run killed midway
        stale.unlink(missing_ok=True)
    dumps = sorted(directory.glob(f"{PG_DUMP_PREFIX}*{PG_DUMP_SUFFIX}"))
    for old in dumps[: -args.keep]:
        old.unlink()
        old.with_suffix(".json").unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    print(
        f"{final}: {where} (schema {version}), {total} documents in {len(counts)} collections,"
        f" {manifest['bytes']} bytes in {seconds:.1f} s; read back ok;"
        f" {min(len(dumps), args.keep)} dump(s) kept, at most {args.keep}"
    )
    return 0


def cmd_pg_verify(args: argparse.Namespace, config: Config) -> int:
    """After ``pg_restore`` of a ``pg-backup`` dump: the dump reads back, and the restored
    database (BOT_DATABASE_URL or --database-url) opens as the bot would (schema version
    checked) with exactly the documents counted when the dump was taken."""
    import hashlib

    from store import Stores
    from store.pg import describe

    url = _database_url(args, config)
    if not url:
        return 2
    register_secret(_password(url))
    file = Path(args.file)
    sidecar = file.with_suffix(".json")
    try:
        manifest = json.loads(sidecar.read_text(encoding="utf-8"))
        expected = {str(k): int(v) for k, v in manifest["counts"].items()}
        digest = hashlib.sha256(file.read_bytes()).hexdigest()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"{sidecar}: {exc}", file=sys.stderr)
        return 2
    if digest != manifest.get("sha256") or _pg_list(file) is None:
        print(f"{file}: damaged (checksum or pg_restore --list)", file=sys.stderr)
        return 1
    with Stores.open(config.data_dir, database_url=url) as stores:  # exit 9: schema
        found = {
            f"{name}/{table}": count
            for name, db in stores.databases.items()
            for table in db.table_names()
            if (count := len(db.table(table)))
        }
    where = describe(url)
    if found != expected:
        names = sorted(set(found) | set(expected))
        for key in names:
            if found.get(key, 0) != expected.get(key, 0):
                print(
                    f"  {key}: {expected.get(key, 0)} in the dump, {found.get(key, 0)} here",
                    file=sys.stderr,
                )
        print(f"{where}: the documents differ from {file}", file=sys.stderr)
        return 1
    registrations = expected.get("registrations/registrations", 0)
    print(
        f"{where}: {sum(found.values())} documents in {len(found)} collections as in {file}"
        f" (taken {manifest.get('taken_at')}; {registrations} registrations); verified"
    )
    return 0


def _password(url: str | None) -> str | None:
    from urllib.parse import urlsplit

    try:
        password = urlsplit(url).password if url else None
    except ValueError:
        return None
    return password if password and len(password) >= 4 else None  # never shown anyway


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument("--config", help="config file (default: $BOT_CONFIG or ./config.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command")

    sub.add_parser(
        "run", help="the Telegram bot (long polling; a webhook with BOT_WEBHOOK_URL)"
    ).set_defaults(func=cmd_run)
    sub.add_parser("chat", help="console chat with the same bot").set_defaults(func=cmd_chat)

    ask = sub.add_parser("ask", help="answer questions as the bot would")
    ask.add_argument("--lang", choices=LANGUAGES)
    ask.add_argument("--json", action="store_true", help="one JSON object per question")
    ask.add_argument("question", nargs="*", help="the question (default: one per line of stdin)")
    ask.set_defaults(func=cmd_ask)

    check = sub.add_parser("check", help="validate config and content files")
    check.add_argument(
        "--faq-stale-days",
        type=int,
        default=None,
        help="warn about FAQ entries checked longer ago than this (default 180)",
    )
    check.set_defaults(func=cmd_check)

    faq = sub.add_parser("faq", help="the knowledge base: what staff taught the bot")
    faq_sub = faq.add_subparsers(dest="faq_command", required=True)
    faq_sub.add_parser(
        "learned", help="the questions staff taught in /pertanyaan, as faq/data/learned.yaml"
    ).set_defaults(func=cmd_faq_learned)

    screen = sub.add_parser("screen", help="evaluate a profile of answers with the current rules")
    screen.add_argument("file", help="answers keyed by question id (.yaml or .json)")
    screen.add_argument("--lang", choices=LANGUAGES)
    screen.add_argument("--json", action="store_true", help="the result as JSON")
    screen.add_argument(
        "--reference-date",
        type=date.fromisoformat,
        help="count ages on this date, YYYY-MM-DD (default: an announced registration date "
        "still ahead, else today)",
    )
    screen.add_argument(
        "--today",
        type=date.fromisoformat,
        help="check as if today were YYYY-MM-DD (default: today in bot.timezone)",
    )
    screen.add_argument(
        "--no-consent", action="store_true", help="as if health and legal answers were declined"
    )
    screen.set_defaults(func=cmd_screen)

    export = sub.add_parser("export", help="registrations to a CSV or XLSX file (staff)")
    export.add_argument(
        "--format",
        choices=("xlsx", "csv"),
        default="xlsx",
        help="xlsx (default): for staff, opens right in a spreadsheet; csv: for other systems",
    )
    export.add_argument("--out", required=True, help="the file to write (created 0600)")
    export.add_argument("--programme", help="interest or screened programme, e.g. korea_work")
    export.add_argument("--outcome", help="screening outcome, e.g. eligible")
    export.add_argument("--kecamatan", help="kecamatan id, e.g. serang")
    export.add_argument("--status", help="follow-up status, e.g. baru")
    export.add_argument("--since", type=date.fromisoformat, help="registered from, YYYY-MM-DD")
    export.add_argument("--until", type=date.fromisoformat, help="registered until, YYYY-MM-DD")
    export.add_argument("--lang", choices=LANGUAGES, help="language of headers and labels")
    export.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    export.set_defaults(func=cmd_export)

    stats = sub.add_parser("stats", help="registration statistics (staff)")
    stats.add_argument(
        "period",
        nargs="*",
        help="7, 30 (days), semua (default), or the first and last date: 01-11-2026 30-11-2026",
    )
    stats.add_argument("--png", help="also draw the chart into this PNG file")
    stats.add_argument("--lang", choices=LANGUAGES)
    stats.set_defaults(func=cmd_stats)

    purge = sub.add_parser("purge", help="remove or anonymise data past its retention period")
    purge.add_argument(
        "--older-than", type=int, metavar="DAYS", help="default: privacy.retention_days"
    )
    purge.set_defaults(func=cmd_purge)

    backup = sub.add_parser("backup", help="back up the data directory (also while running)")
    backup.add_argument("file", help="the archive to write (.tar.gz, created 0600)")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser("restore", help="replace the data directory by a backup")
    restore.add_argument("file", help="an archive written by `backup`")
    restore.set_defaults(func=cmd_restore)

    migrate = sub.add_parser("migrate", help="apply the PostgreSQL schema migrations")
    migrate.add_argument("--database-url", help="default: $BOT_DATABASE_URL")
    migrate.add_argument("--status", action="store_true", help="only print the schema version")
    migrate.set_defaults(func=cmd_migrate)

    copy = sub.add_parser("copy-data", help="copy the embedded data directory into PostgreSQL")
    copy.add_argument("--to", required=True, help="postgresql://user:password@host:port/db")
    copy.add_argument("--from", dest="source", help="data directory (default: BOT_DATA_DIR)")
    copy.add_argument(
        "--force", action="store_true", help="replace whatever the target database holds"
    )
    copy.set_defaults(func=cmd_copy_data)

    pg_backup = sub.add_parser("pg-backup", help="pg_dump the PostgreSQL database (daily)")
    pg_backup.add_argument("directory", help="where the dumps go (created 0700)")
    pg_backup.add_argument("--database-url", help="default: $BOT_DATABASE_URL")
    pg_backup.add_argument(
        "--keep", type=int, default=PG_DUMP_KEEP, help=f"dumps kept (default {PG_DUMP_KEEP})"
    )
    pg_backup.set_defaults(func=cmd_pg_backup)

    pg_verify = sub.add_parser("pg-verify", help="check a database restored from a pg-backup dump")
    pg_verify.add_argument("file", help="the .dump written by pg-backup (its .json beside it)")
    pg_verify.add_argument(
        "--database-url", help="the restored database (default: $BOT_DATABASE_URL)"
    )
    pg_verify.set_defaults(func=cmd_pg_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # python-telegram-bot 22: time periods (RetryAfter.retry_after...) as timedelta, no warning.
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    args = build_parser().parse_args(argv)
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
    try:
        config = load_config(Path(args.config) if args.config else None)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    register_secret(config.token)
    register_secret(_password(config.database_url))
    func: Command | None = getattr(args, "func", None)
    if func is None:
        func = cmd_run if config.token else cmd_chat
    from store.errors import StoreError

    try:
        return func(args, config)
    except KeyboardInterrupt:
        return 130
    except StoreError as exc:  # the data directory cannot be opened: one line, no traceback
        print(exc, file=sys.stderr)
        return exc.exit_code
