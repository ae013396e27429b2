-- Referral (分销) schema, PostgreSQL.
-- ref_nodes holds one row per user taking part in a programme's tree: its
-- current binding (referrer_id NULL: unbound, e.g. a root referrer). Bind
-- locks these rows; Chain walks them with a depth-bounded recursive CTE.

CREATE TABLE {{prefix}}ref_programmes (
    id         VARCHAR(128) COLLATE "C" PRIMARY KEY,
    definition TEXT NOT NULL,
    created_at TIMESTAMPTZ NULL
);

CREATE TABLE {{prefix}}ref_codes (
    code         VARCHAR(32) COLLATE "C" PRIMARY KEY,
    programme_id VARCHAR(128) COLLATE "C" NOT NULL,
    user_id      VARCHAR(128) COLLATE "C" NOT NULL,
    channel      VARCHAR(128) NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ NULL
);
CREATE INDEX {{prefix}}ref_codes_user ON {{prefix}}ref_codes (programme_id, user_id, created_at);

CREATE TABLE {{prefix}}ref_distributors (
    programme_id VARCHAR(128) COLLATE "C" NOT NULL,
    user_id      VARCHAR(128) COLLATE "C" NOT NULL,
    state        VARCHAR(16) NOT NULL,
    applied_at   TIMESTAMPTZ NULL,
    updated_at   TIMESTAMPTZ NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);

CREATE TABLE {{prefix}}ref_nodes (
    programme_id VARCHAR(128) COLLATE "C" NOT NULL,
    user_id      VARCHAR(128) COLLATE "C" NOT NULL,
    referrer_id  VARCHAR(128) COLLATE "C" NULL,
    source       VARCHAR(32) NOT NULL,
    code         VARCHAR(128) NOT NULL,
    bound_at     TIMESTAMPTZ NULL,
    locked_until TIMESTAMPTZ NULL,
    expires_at   TIMESTAMPTZ NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
-- Downline counts.
CREATE INDEX {{prefix}}ref_nodes_referrer ON {{prefix}}ref_nodes (programme_id, referrer_id);

CREATE TABLE {{prefix}}ref_history (
    programme_id  VARCHAR(128) COLLATE "C" NOT NULL,
    user_id       VARCHAR(128) COLLATE "C" NOT NULL,
    version       BIGINT NOT NULL,
    from_referrer VARCHAR(128) NOT NULL,
    to_referrer   VARCHAR(128) NOT NULL,
    source        VARCHAR(32) NOT NULL,
    changed_at    TIMESTAMPTZ NULL,
    actor         VARCHAR(128) NOT NULL,
    reason        VARCHAR(512) NOT NULL,
    PRIMARY KEY (programme_id, user_id, version)
);

CREATE TABLE {{prefix}}ref_attributions (
    programme_id VARCHAR(128) COLLATE "C" NOT NULL,
    order_ref    VARCHAR(128) COLLATE "C" NOT NULL,
    buyer_id     VARCHAR(128) COLLATE "C" NOT NULL,
    attributed_at TIMESTAMPTZ NOT NULL,
    policy_name  VARCHAR(128) NOT NULL,
    policy_version INTEGER NOT NULL,
    snapshot     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NULL,
    PRIMARY KEY (programme_id, order_ref)
)
