-- Creates in a CRM without native upsert: the intent to create a record for a 10to8 customer,
-- recorded before the create and resolved once the link is saved.

CREATE TABLE pending_crm_creates (
    connector  TEXT COLLATE "C" NOT NULL,
    hub_uri    TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (connector, hub_uri)
);
