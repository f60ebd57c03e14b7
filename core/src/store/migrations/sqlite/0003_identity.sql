-- Why a record needs attention or failed (grouped on the dashboard), and the pairs a person
-- said are different people, which matching never joins.

ALTER TABLE record_status ADD COLUMN reason TEXT NOT NULL DEFAULT '';

CREATE TABLE kept_apart (
    connector  TEXT NOT NULL,
    hub_uri    TEXT NOT NULL,
    crm_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (connector, hub_uri, crm_id)
);
