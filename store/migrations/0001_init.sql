-- The document store on PostgreSQL: the same stores, collections and keys as the embedded
-- files (store/durable.py), one row per document. See store/pg.py for why one table.

-- One row per store (registrations, users, kv, broadcasts...): its write counter, which is
-- ``Database.seq`` (bumped by every committed batch, in the batch's transaction).
CREATE TABLE stores (
    name text PRIMARY KEY,
    seq bigint NOT NULL DEFAULT 0
);

-- Insertion order across every collection: a document keeps its place when it is replaced
-- and moves to the end when it is deleted and written again, as in the embedded store.
CREATE SEQUENCE docs_pos AS bigint;

CREATE TABLE docs (
    store text NOT NULL REFERENCES stores (name),
    coll text NOT NULL,
    key text NOT NULL,
    pos bigint NOT NULL DEFAULT nextval('docs_pos'),
    doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
    PRIMARY KEY (store, coll, key)
);
ALTER SEQUENCE docs_pos OWNED BY docs.pos;

-- all(), items(), keys(), find(): one collection in insertion order.
CREATE INDEX docs_order ON docs (store, coll, pos);

-- The fields the repositories look up with find_by (declared with table(..., indexes=...)).
-- An index is named docs_by_<field>; PgDatabase reads these names to know which fields are
-- indexed, and tests/test_store_pg.py fails when a repository asks for one that is missing.
CREATE INDEX docs_by_user_id ON docs (store, coll, (doc -> 'user_id')) WHERE doc ? 'user_id';
CREATE INDEX docs_by_nik ON docs (store, coll, (doc -> 'nik')) WHERE doc ? 'nik';
CREATE INDEX docs_by_chat_id ON docs (store, coll, (doc -> 'chat_id')) WHERE doc ? 'chat_id';
CREATE INDEX docs_by_target ON docs (store, coll, (doc -> 'target')) WHERE doc ? 'target';
