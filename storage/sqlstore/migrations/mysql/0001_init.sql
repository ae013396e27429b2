-- Group-buy schema and transactional outbox, MySQL 8 / MariaDB 10.6+.
-- DDL is not transactional here: every statement is IF NOT EXISTS and
-- Migrate holds GET_LOCK while it runs. Indexes are declared inside CREATE
-- TABLE because MySQL has no CREATE INDEX IF NOT EXISTS.
-- utf8mb4_bin: IDs compare and sort by bytes, as in Go.
-- Times are DATETIME(6) in UTC; money is DECIMAL(20,4).

CREATE TABLE IF NOT EXISTS {{prefix}}campaigns (
    id              VARCHAR(128) NOT NULL PRIMARY KEY,
    product_ref     VARCHAR(128) NOT NULL,
    currency        VARCHAR(8) NOT NULL,
    prices          LONGTEXT NOT NULL,
    team_size       INT NOT NULL,
    team_lifetime   BIGINT NOT NULL,
    starts_at       DATETIME(6) NULL,
    ends_at         DATETIME(6) NULL,
    status          VARCHAR(16) NOT NULL,
    max_opened      INT NOT NULL,
    max_joined      INT NOT NULL,
    max_units       INT NOT NULL,
    reservation_ttl BIGINT NOT NULL,
    vf_mode         VARCHAR(16) NOT NULL,
    vf_min_paid     INT NOT NULL,
    vf_min_percent  INT NOT NULL,
    record_virtual  BOOLEAN NOT NULL,
    late_payment    VARCHAR(16) NOT NULL,
    created_at      DATETIME(6) NULL,
    version         BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}teams (
    id            VARCHAR(128) NOT NULL PRIMARY KEY,
    campaign_id   VARCHAR(128) NOT NULL,
    leader_id     VARCHAR(128) NOT NULL,
    capacity      INT NOT NULL,
    seats_taken   INT NOT NULL,
    seats_paid    INT NOT NULL,
    virtual_seats INT NOT NULL,
    state         VARCHAR(16) NOT NULL,
    opened_at     DATETIME(6) NOT NULL,
    expires_at    DATETIME(6) NOT NULL,
    closed_at     DATETIME(6) NULL,
    version       BIGINT NOT NULL,
    KEY {{prefix}}teams_open (state, campaign_id, opened_at, id),
    KEY {{prefix}}teams_due (state, expires_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}seats (
    id             VARCHAR(128) NOT NULL PRIMARY KEY,
    team_id        VARCHAR(128) NOT NULL,
    campaign_id    VARCHAR(128) NOT NULL,
    user_id        VARCHAR(128) NOT NULL,
    sku            VARCHAR(128) NOT NULL,
    quantity       INT NOT NULL,
    unit_price     DECIMAL(20,4) NOT NULL,
    amount         DECIMAL(20,4) NOT NULL,
    currency       VARCHAR(8) NOT NULL,
    state          VARCHAR(20) NOT NULL,
    is_leader      BOOLEAN NOT NULL,
    is_virtual     BOOLEAN NOT NULL,
    reserved_at    DATETIME(6) NOT NULL,
    reserved_until DATETIME(6) NOT NULL,
    paid_at        DATETIME(6) NULL,
    payment_ref    VARCHAR(256) NOT NULL,
    version        BIGINT NOT NULL,
    active_user    VARCHAR(128) NULL,
    UNIQUE KEY {{prefix}}seats_active_user (team_id, active_user),
    KEY {{prefix}}seats_user (user_id, reserved_at, id),
    KEY {{prefix}}seats_due (state, reserved_until, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}user_limits (
    campaign_id VARCHAR(128) NOT NULL,
    user_id     VARCHAR(128) NOT NULL,
    opened      INT NOT NULL,
    joined      INT NOT NULL,
    PRIMARY KEY (campaign_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}idempotency (
    scope       VARCHAR(64) NOT NULL,
    idem_key    VARCHAR(512) NOT NULL,
    fingerprint LONGTEXT NOT NULL,
    result      LONGBLOB NULL,
    created_at  DATETIME(6) NULL,
    PRIMARY KEY (scope, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}outbox (
    seq         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    id          VARCHAR(128) NOT NULL,
    topic       VARCHAR(128) NOT NULL,
    event_key   VARCHAR(1024) NOT NULL,
    payload     LONGBLOB NULL,
    created_at  DATETIME(6) NULL,
    attempts    INT NOT NULL DEFAULT 0,
    lease_until DATETIME(6) NULL,
    UNIQUE KEY {{prefix}}outbox_id (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
