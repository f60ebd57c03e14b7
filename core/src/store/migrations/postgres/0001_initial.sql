-- The initial schema (PostgreSQL). Keys compare bytewise (COLLATE "C").
-- Times are milliseconds since the Unix epoch; JSON is stored as text.

CREATE TABLE links (
    connector    TEXT COLLATE "C" NOT NULL,
    hub_uri      TEXT COLLATE "C" NOT NULL,
    crm_id       TEXT COLLATE "C" NOT NULL,
    hub_snapshot TEXT    NOT NULL,
    crm_snapshot TEXT    NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (connector, hub_uri)
);
CREATE UNIQUE INDEX links_by_crm ON links (connector, crm_id);

CREATE TABLE pending_creates (
    connector  TEXT COLLATE "C" NOT NULL,
    crm_id     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, crm_id)
);

CREATE TABLE inbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector       TEXT COLLATE "C" NOT NULL,
    side            TEXT COLLATE "C" NOT NULL,
    object_id       TEXT COLLATE "C" NOT NULL,
    change          TEXT    NOT NULL,
    due_at          BIGINT NOT NULL,
    ready_at        BIGINT NOT NULL,
    enqueued_at     BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    claimed_version BIGINT NOT NULL DEFAULT 0,
    claim_seq       BIGINT NOT NULL DEFAULT 0,
    claimed_by      TEXT,
    lease_until     BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT
);
CREATE UNIQUE INDEX inbox_by_object ON inbox (connector, side, object_id);
CREATE INDEX inbox_by_ready ON inbox (ready_at, id);
CREATE INDEX inbox_by_worker ON inbox (claimed_by);

CREATE TABLE dead_letters (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector TEXT COLLATE "C" NOT NULL,
    side      TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    change    TEXT    NOT NULL,
    error     TEXT    NOT NULL,
    attempts  BIGINT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX dead_letters_by_object ON dead_letters (connector, side, object_id);

CREATE TABLE oauth_tokens (
    connector     TEXT COLLATE "C" NOT NULL,
    account       TEXT    NOT NULL,
    access_token  TEXT    NOT NULL,
    refresh_token TEXT    NOT NULL,
    expires_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (connector, account)
);

CREATE TABLE runs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT    NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    summary     TEXT
);
CREATE INDEX runs_by_kind ON runs (kind, id);

CREATE TABLE record_status (
    connector    TEXT COLLATE "C" NOT NULL,
    side         TEXT COLLATE "C" NOT NULL,
    object_id    TEXT COLLATE "C" NOT NULL,
    status       TEXT    NOT NULL,
    message      TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (connector, side, object_id)
);
CREATE INDEX record_status_by_status ON record_status (status, updated_at);

CREATE TABLE activity (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           BIGINT NOT NULL,
    connector    TEXT COLLATE "C" NOT NULL,
    direction    TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    hub_uri      TEXT,
    crm_id       TEXT,
    display_name TEXT    NOT NULL,
    detail       TEXT    NOT NULL
);
CREATE INDEX activity_by_action ON activity (action, id);

CREATE TABLE settings (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT    NOT NULL,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL
);
