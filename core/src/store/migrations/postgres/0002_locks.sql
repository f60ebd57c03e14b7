-- Named locks with an expiry, for work one replica does at a time (the periodic reconcile).

CREATE TABLE locks (
    name       TEXT COLLATE "C" PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
