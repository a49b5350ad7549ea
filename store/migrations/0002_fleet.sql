-- More than one bot process on one database (store/pg_inbox.py, bot/fleet.py).

-- The webhook inbox as a table: every worker's webhook stores what it receives here, every
-- worker claims from it. An update is pending while done_at is NULL; claimed while its lease
-- runs (lease_until in the future); its payload (and the conversation state it started from,
-- ``before``) is dropped when it is done, its id kept for the de-duplication window.
CREATE TABLE inbox (
    update_id bigint PRIMARY KEY,
    -- whose updates run one at a time, in update_id order: the chat (else the user; NULL: none)
    chat_key bigint,
    kind text NOT NULL,
    user_id bigint,
    payload jsonb,
    received_at timestamptz NOT NULL DEFAULT now(),
    claimed_by text,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    -- user_data / chat_data as they were before the first attempt (a retry starts from them)
    before jsonb,
    done_at timestamptz
);
-- the claim: pending updates in order, and "is there an older pending update of this chat?"
CREATE INDEX inbox_pending ON inbox (update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_pending_chat ON inbox (chat_key, update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;
CREATE INDEX inbox_user ON inbox (user_id) WHERE done_at IS NULL;

-- The live workers: each one's heartbeat (the reply budget is shared among the live ones).
CREATE TABLE workers (
    id text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    seen_at timestamptz NOT NULL DEFAULT now(),
    -- holds the leader lock: sends the announcements, runs the scheduled jobs
    leads boolean NOT NULL DEFAULT false
);
