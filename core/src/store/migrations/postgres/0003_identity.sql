-- Why a record needs attention or failed (grouped on the dashboard), and the pairs a person
-- said are different people, which matching never joins.

ALTER TABLE record_status ADD COLUMN reason TEXT NOT NULL DEFAULT '';

CREATE TABLE kept_apart (
    connector  TEXT COLLATE "C" NOT NULL,
    hub_uri    TEXT COLLATE "C" NOT NULL,
    crm_id     TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, hub_uri, crm_id)
);
