"""Crash-safe storage on TinyDB, behind repositories. Never imports ``telegram``.

Start-up and shutdown (e.g. in PTB ``post_init`` / ``post_shutdown``)::

    astores = await AsyncStores.open(Path("data"))    # raises StoreCorruptError / StoreLockedError
    stores = astores.stores
    record, created = await astores.call(stores.registrations.save, uid, chat_id, data, actor=uid)
    await astores.aclose()

Guarantees
    * A write is durable when the call returns (journal line fsync'd). A kill at any instant
      leaves every file readable with every acknowledged write present.
    * One writer at a time per store (a lock inside ``Database``), and ``AsyncStores`` runs each
      store's calls in its own worker thread: disk work never blocks the event loop, and the
      busy stores (subscribers, unanswered) never delay registrations.
    * Data directory 0700, files 0600, whatever the umask.
    * Start-up removes leftovers (temp snapshot, torn journal tail without its newline); a file
      that cannot be read raises ``StoreCorruptError`` ("<path>: line N: byte B: <problem>. ...")
      and is not touched; a damaged complete last line is refused too, its file copied to
      ``<file>.damaged``. A second process gets ``StoreLockedError``; a directory where a file
      should be, a file where the directory should be, another owner or no permission, a disk
      error: ``StoreNotAFileError``, ``StorePermissionError``, ``StoreIOError``. Every error has
      a one-line English ``str()``, ``message(lang)`` and the CLI's ``exit_code``.
    * Compaction never stalls a write: the snapshot is written outside the store's lock.
    * Erasure is physical: when ``Stores.delete_user`` (or ``Stores.purge``) returns, no file in
      the data directory holds what was removed; a crash in between is finished at the next open.
    * Reads return independent copies (plain dicts); mutate them freely.

Files in the data directory: ``registrations``, ``screenings`` (with consents), ``users``,
``subscribers``, ``unanswered``, ``audit``, ``kv``, ``erasures`` (pending erasures: user id,
registration numbers, time); each is ``<name>.json`` + ``<name>.journal`` (+ a switched-out
``<name>.<seq>.journal`` while a compaction runs). Every store with files there is opened, and
so verified, by ``Stores.open``.

API (sync; wrap each call in ``await astores.call(fn, *args, **kwargs)`` on the event loop)
    ``Stores.open(data_dir, *, clock=utc_now, compact_min_bytes=None, database_url=None)``
    ``Stores.database(name) -> Database``  another durable store in the same directory
    ``Stores.delete_user(user_id, *, actor=0) -> dict[str, int]``  everything about a user,
        physically (see its docstring for the order of steps)
    ``Stores.register_user_deleter(name, deleter)``  ``deleter(user_id) -> int`` removes a
        user's documents from ``database(name)``; ``delete_user`` calls it and rewrites that store
    ``Stores.pending_erasures() -> list[int]``
    ``Stores.purge(older_than_days) -> dict[str, int]``  retention, physically
    ``Stores.close()``

    ``Database(directory, name, *, compact_min_bytes=4 MiB)``
        ``.table(name, *, indexes=()) -> Collection``, ``.batch()`` (context manager: several
        puts/deletes over tables, one fsync, all or nothing), ``.locked()`` (hold the lock over a
        read-check-write), ``.compact()`` (beside writes; afterwards no file holds an older
        version), ``.files()``, ``.close()``
    ``Collection``: ``get(key) -> dict | None``, ``put(key, doc)``, ``put_many(items)``,
        ``delete(key) -> bool``, ``delete_many(keys) -> int``, ``find(query_or_callable)``,
        ``find_by(field, value)`` (O(1) on an indexed field), ``all()``, ``items()``, ``keys()``,
        ``len()``, ``key in collection``. Keys are strings; documents JSON objects.

    ``stores.registrations: RegistrationRepo``
        ``get(reg_no)``, ``get_by_user(user_id)``, ``get_by_nik(nik)`` -> dict | None (active only
        for the last two: not ``tidak_lanjut``, not anonymised)
        ``save(user_id, chat_id, data, *, actor) -> (record, created)``; raises ``NikTakenError``
        ``set_status(reg_no, status, *, actor, reason=None) -> dict``; raises ``StatusError``,
        ``NotFoundError``
        ``add_note(reg_no, text, *, actor) -> dict``; ``delete_user(user_id) -> int``;
        ``numbers_of(user_id) -> list[str]``
        ``search(*, programme, outcome, kecamatan, status, since, until) -> list`` newest first;
        ``count(**filters) -> int``; ``iter_all()``; ``anonymise_older_than(cutoff) -> int``;
        ``len()``
    ``stores.consents: ConsentRepo``
        ``record(user_id, purpose, version, granted) -> dict``, ``current(user_id, purpose)``,
        ``history(user_id) -> list``, ``delete_user(user_id) -> int``
    ``stores.screenings: ScreeningRepo``
        ``save(user_id, answers, result, consent) -> dict`` (answers kept only with consent),
        ``get(user_id)``, ``delete_user(user_id) -> int``, ``older_than(cutoff) -> list``,
        ``delete_older_than(cutoff) -> int``
    ``stores.users: UserRepo``
        ``get(user_id)``, ``set_language(user_id, lang)``, ``language(user_id) -> str | None``,
        ``touch(user_id)`` (writes at most every 10 minutes per user), ``delete_user(user_id)``
    ``stores.subscribers: SubscriberRepo``
        ``subscribe(user_id, chat_id, *, source)``, ``unsubscribe(user_id) -> bool``,
        ``is_subscribed(user_id) -> bool``, ``active_chat_ids() -> list[int]``,
        ``mark_inactive(chat_id, reason) -> int``, ``count_active() -> int``, ``delete_user``
    ``stores.unanswered: UnansweredRepo``
        ``log(text, lang, *, user_id=None) -> dict`` (text already masked; pass the asker's id
        so their erasure removes it), ``delete_user(user_id) -> int``, ``recent(limit) -> list``
        newest first,
        ``all_open() -> list`` oldest first, ``mark_handled(ids, *, actor) -> int``,
        ``count_total() -> int``
    ``stores.audit: AuditRepo``
        ``record(actor, action, target, details=None) -> dict``, ``list(target=None, limit=100)``
        newest first. No personal data in ``target`` or ``details``.
    ``stores.kv: KeyValueRepo``  (PTB persistence; the FAQ's taught items and status update)
        ``get(ns, key, default=None)``, ``put(ns, key, value)``, ``put_many(ns, items)``,
        ``update(ns, key, change) -> value`` (read-change-write under the lock),
        ``delete(ns, key) -> bool``, ``items(ns) -> list[(key, value)]``, ``namespaces()``,
        ``delete_user(user_id) -> int`` (keys naming the id as a whole number: "123", "123:45"),
        ``delete_users(ids) -> int``

PostgreSQL (``Stores.open(data_dir, database_url="postgresql://...")``, ``BOT_DATABASE_URL``)
    The same stores on a PostgreSQL server: ``store/pg.py`` implements ``Database``,
    ``Collection`` and ``Batch`` over one table ``docs (store, coll, key, pos, doc jsonb)``, so
    every repository above runs unchanged on both backends, and one contract suite proves it
    (``tests/test_store_repos.py``, ``tests/test_broadcast_core.py`` run on both;
    ``tests/test_store_pg.py`` adds what only PostgreSQL has). Why this design and not SQL
    repositories or a table per collection: see ``store/pg.py``'s docstring (in short: the
    repositories keep changing, and collections are made at run time).
    * Schema: ``store/migrations/NNNN_name.sql``, recorded in ``schema_migrations`` and applied
      by ``python -m bot migrate``; opening refuses a schema behind or ahead of the code
      (``StoreSchemaError``, exit code 9). A field a repository looks up with ``find_by`` needs
      a ``docs_by_<field>`` index in a migration (the tests fail without it).
    * Durability: a write is durable when its transaction commits (PostgreSQL's WAL, with the
      server's ``fsync``/``synchronous_commit`` left on). A batch is one transaction.
    * Concurrency: ``locked()`` is a per-store advisory lock and every commit takes it too, so
      read-check-writes are serialised across threads and processes; reads always go to the
      server. For now a second process is refused (``DatabaseLockedError``, exit code 4) as in
      embedded mode, because the bot still keeps some state in memory.
    * Threads: psycopg 3 with a synchronous ``psycopg_pool`` pool, called only from the worker
      threads of ``AsyncStores.call`` (never on the event loop).
    * Erasure and retention are DELETEs: when ``delete_user`` or ``purge`` returns, no row
      holds what was removed and no query can return it. PostgreSQL keeps the dead row
      versions in the table's files until (auto)VACUUM reuses the space, and WAL archives and
      backups keep what they hold until they expire: keeping autovacuum on, and the retention
      of WAL archives and backups within ``privacy.retention_days``, is the operator's part.
    * ``copy-data --to URL`` copies a data directory in one transaction (all or nothing),
      compares the counts per collection, refuses a non-empty target without ``--force``.
    * U+0000 in a text becomes U+FFFD (jsonb cannot hold it); everything else round-trips.

Errors (``store.errors``) carry ``message(lang)`` texts from ``store/data/messages.yaml``;
``str(error)`` is English.
"""

from store.collection import Collection
from store.durable import Batch, Database
from store.errors import (
    DatabaseLockedError,
    NikTakenError,
    NotFoundError,
    StatusError,
    StoreClosedError,
    StoreCorruptError,
    StoreError,
    StoreIOError,
    StoreLockedError,
    StoreNotAFileError,
    StoreOpenError,
    StorePermissionError,
    StoreSchemaError,
    StoreUnreachableError,
)
from store.registrations import (
    CONTACT_OUTCOMES,
    STATUSES,
    ContactEffect,
    FollowUpRow,
    RegistrationRepo,
)
from store.repos import (
    AuditRepo,
    ConsentRepo,
    KeyValueRepo,
    ScreeningRepo,
    SubscriberRepo,
    UnansweredRepo,
    UserRepo,
)
from store.stores import AsyncStores, Stores

__all__ = [
    "CONTACT_OUTCOMES",
    "STATUSES",
    "AsyncStores",
    "AuditRepo",
    "Batch",
    "Collection",
    "ConsentRepo",
    "ContactEffect",
    "Database",
    "DatabaseLockedError",
    "FollowUpRow",
    "KeyValueRepo",
    "NikTakenError",
    "NotFoundError",
    "RegistrationRepo",
    "ScreeningRepo",
    "StatusError",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreIOError",
    "StoreLockedError",
    "StoreNotAFileError",
    "StoreOpenError",
    "StorePermissionError",
    "StoreSchemaError",
    "StoreUnreachableError",
    "Stores",
    "SubscriberRepo",
    "UnansweredRepo",
    "UserRepo",
]
