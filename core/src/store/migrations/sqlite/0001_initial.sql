-- The initial schema. Times are milliseconds since the Unix epoch; JSON is stored as text.

CREATE TABLE links (
    connector    TEXT    NOT NULL,
    hub_uri      TEXT    NOT NULL,
    crm_id       TEXT    NOT NULL,
    hub_snapshot TEXT    NOT NULL,
    crm_snapshot TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (connector, hub_uri)
);
CREATE UNIQUE INDEX links_by_crm ON links (connector, crm_id);

CREATE TABLE pending_creates (
    connector  TEXT    NOT NULL,
    crm_id     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (connector, crm_id)
);

CREATE TABLE inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    connector       TEXT    NOT NULL,
    side            TEXT    NOT NULL,
    object_id       TEXT    NOT NULL,
    change          TEXT    NOT NULL,
    due_at          INTEGER NOT NULL,
    ready_at        INTEGER NOT NULL,
    enqueued_at     INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    claimed_version INTEGER NOT NULL DEFAULT 0,
    claim_seq       INTEGER NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    lease_until     INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE UNIQUE INDEX inbox_by_object ON inbox (connector, side, object_id);
CREATE INDEX inbox_by_ready ON inbox (ready_at, id);
CREATE INDEX inbox_by_worker ON inbox (claimed_by);

CREATE TABLE dead_letters (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    connector TEXT    NOT NULL,
    side      TEXT    NOT NULL,
    object_id TEXT    NOT NULL,
    change    TEXT    NOT NULL,
    error     TEXT    NOT NULL,
    attempts  INTEGER NOT NULL,
    failed_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX dead_letters_by_object ON dead_letters (connector, side, object_id);

CREATE TABLE oauth_tokens (
    connector     TEXT    NOT NULL,
    account       TEXT    NOT NULL,
    access_token  TEXT    NOT NULL,
    refresh_token TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (connector, account)
);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT,
    summary     TEXT
);
CREATE INDEX runs_by_kind ON runs (kind, id);

CREATE TABLE record_status (
    connector    TEXT    NOT NULL,
    side         TEXT    NOT NULL,
    object_id    TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (connector, side, object_id)
);
CREATE INDEX record_status_by_status ON record_status (status, updated_at);

CREATE TABLE activity (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    connector    TEXT    NOT NULL,
    direction    TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    hub_uri      TEXT,
    crm_id       TEXT,
    display_name TEXT    NOT NULL,
    detail       TEXT    NOT NULL
);
CREATE INDEX activity_by_action ON activity (action, id);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    expires_at INTEGER,
    updated_at INTEGER NOT NULL
);
