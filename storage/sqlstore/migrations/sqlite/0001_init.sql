-- Group-buy schema and transactional outbox, SQLite.
-- Times are INTEGER Unix microseconds (UTC); money is TEXT holding the
-- canonical decimal (no trailing zeros), parsed with shopspring/decimal.

CREATE TABLE {{prefix}}campaigns (
    id              TEXT NOT NULL PRIMARY KEY,
    product_ref     TEXT NOT NULL,
    currency        TEXT NOT NULL,
    prices          TEXT NOT NULL,
    team_size       INTEGER NOT NULL,
    team_lifetime   INTEGER NOT NULL,
    starts_at       INTEGER NULL,
    ends_at         INTEGER NULL,
    status          TEXT NOT NULL,
    max_opened      INTEGER NOT NULL,
    max_joined      INTEGER NOT NULL,
    max_units       INTEGER NOT NULL,
    reservation_ttl INTEGER NOT NULL,
    vf_mode         TEXT NOT NULL,
    vf_min_paid     INTEGER NOT NULL,
    vf_min_percent  INTEGER NOT NULL,
    record_virtual  INTEGER NOT NULL,
    late_payment    TEXT NOT NULL,
    created_at      INTEGER NULL,
    version         INTEGER NOT NULL
);

CREATE TABLE {{prefix}}teams (
    id            TEXT NOT NULL PRIMARY KEY,
    campaign_id   TEXT NOT NULL,
    leader_id     TEXT NOT NULL,
    capacity      INTEGER NOT NULL,
    seats_taken   INTEGER NOT NULL,
    seats_paid    INTEGER NOT NULL,
    virtual_seats INTEGER NOT NULL,
    state         TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    closed_at     INTEGER NULL,
    version       INTEGER NOT NULL
);

CREATE INDEX {{prefix}}teams_open ON {{prefix}}teams (state, campaign_id, opened_at, id);
CREATE INDEX {{prefix}}teams_due ON {{prefix}}teams (state, expires_at, id);

CREATE TABLE {{prefix}}seats (
    id             TEXT NOT NULL PRIMARY KEY,
    team_id        TEXT NOT NULL,
    campaign_id    TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    sku            TEXT NOT NULL,
    quantity       INTEGER NOT NULL,
    unit_price     TEXT NOT NULL,
    amount         TEXT NOT NULL,
    currency       TEXT NOT NULL,
    state          TEXT NOT NULL,
    is_leader      INTEGER NOT NULL,
    is_virtual     INTEGER NOT NULL,
    reserved_at    INTEGER NOT NULL,
    reserved_until INTEGER NOT NULL,
    paid_at        INTEGER NULL,
    payment_ref    TEXT NOT NULL,
    version        INTEGER NOT NULL,
    active_user    TEXT NULL,
    CONSTRAINT {{prefix}}seats_active_user UNIQUE (team_id, active_user)
);

CREATE INDEX {{prefix}}seats_user ON {{prefix}}seats (user_id, reserved_at, id);
CREATE INDEX {{prefix}}seats_due ON {{prefix}}seats (state, reserved_until, id);

CREATE TABLE {{prefix}}user_limits (
    campaign_id TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    opened      INTEGER NOT NULL,
    joined      INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
);

CREATE TABLE {{prefix}}idempotency (
    scope       TEXT NOT NULL,
    idem_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result      BLOB NULL,
    created_at  INTEGER NULL,
    PRIMARY KEY (scope, idem_key)
);

CREATE TABLE {{prefix}}outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    topic       TEXT NOT NULL,
    event_key   TEXT NOT NULL,
    payload     BLOB NULL,
    created_at  INTEGER NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER NULL
);
