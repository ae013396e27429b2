-- Referral (分销) schema, SQLite (times are INTEGER Unix microseconds).
-- ref_nodes holds one row per user taking part in a programme's tree: its
-- current binding (referrer_id NULL: unbound, e.g. a root referrer). Bind
-- locks these rows; Chain walks them with a depth-bounded recursive CTE.

CREATE TABLE {{prefix}}ref_programmes (
    id         VARCHAR(128) PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at INTEGER NULL
);

CREATE TABLE {{prefix}}ref_codes (
    code         VARCHAR(32) PRIMARY KEY,
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    channel      VARCHAR(128) NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER NULL
);
CREATE INDEX {{prefix}}ref_codes_user ON {{prefix}}ref_codes (programme_id, user_id, created_at);

CREATE TABLE {{prefix}}ref_distributors (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    applied_at   INTEGER NULL,
    updated_at   INTEGER NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);

CREATE TABLE {{prefix}}ref_nodes (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    referrer_id  VARCHAR(128) NULL,
    source       VARCHAR(32) NOT NULL,
    code         VARCHAR(128) NOT NULL,
    bound_at     INTEGER NULL,
    locked_until INTEGER NULL,
    expires_at   INTEGER NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
-- Downline counts.
CREATE INDEX {{prefix}}ref_nodes_referrer ON {{prefix}}ref_nodes (programme_id, referrer_id);

CREATE TABLE {{prefix}}ref_history (
    programme_id  VARCHAR(128) NOT NULL,
    user_id       VARCHAR(128) NOT NULL,
    version       BIGINT NOT NULL,
    from_referrer VARCHAR(128) NOT NULL,
    to_referrer   VARCHAR(128) NOT NULL,
    source        VARCHAR(32) NOT NULL,
    changed_at    INTEGER NULL,
    actor         VARCHAR(128) NOT NULL,
    reason        VARCHAR(512) NOT NULL,
    PRIMARY KEY (programme_id, user_id, version)
);

CREATE TABLE {{prefix}}ref_attributions (
    programme_id VARCHAR(128) NOT NULL,
    order_ref    VARCHAR(128) NOT NULL,
    buyer_id     VARCHAR(128) NOT NULL,
    attributed_at INTEGER NOT NULL,
    policy_name  VARCHAR(128) NOT NULL,
    policy_version INTEGER NOT NULL,
    snapshot     TEXT NOT NULL,
    created_at   INTEGER NULL,
    PRIMARY KEY (programme_id, order_ref)
)
