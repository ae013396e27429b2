-- Referral (分销) schema, MySQL 8 / MariaDB 10.6+ (utf8mb4_bin: IDs compare by bytes).
-- ref_nodes holds one row per user taking part in a programme's tree: its
-- current binding (referrer_id NULL: unbound, e.g. a root referrer). Bind
-- locks these rows; Chain walks them with a depth-bounded recursive CTE.

CREATE TABLE IF NOT EXISTS {{prefix}}ref_programmes (
    id         VARCHAR(128) PRIMARY KEY,
    definition LONGTEXT NOT NULL,
    created_at DATETIME(6) NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}ref_codes (
    code         VARCHAR(32) PRIMARY KEY,
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    channel      VARCHAR(128) NOT NULL,
    created_at   DATETIME(6) NOT NULL,
    revoked_at   DATETIME(6) NULL,
    KEY {{prefix}}ref_codes_user (programme_id, user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}ref_distributors (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    applied_at   DATETIME(6) NULL,
    updated_at   DATETIME(6) NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}ref_nodes (
    programme_id VARCHAR(128) NOT NULL,
    user_id      VARCHAR(128) NOT NULL,
    referrer_id  VARCHAR(128) NULL,
    source       VARCHAR(32) NOT NULL,
    code         VARCHAR(128) NOT NULL,
    bound_at     DATETIME(6) NULL,
    locked_until DATETIME(6) NULL,
    expires_at   DATETIME(6) NULL,
    actor        VARCHAR(128) NOT NULL,
    reason       VARCHAR(512) NOT NULL,
    version      BIGINT NOT NULL,
    PRIMARY KEY (programme_id, user_id),
    -- Downline counts.
    KEY {{prefix}}ref_nodes_referrer (programme_id, referrer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}ref_history (
    programme_id  VARCHAR(128) NOT NULL,
    user_id       VARCHAR(128) NOT NULL,
    version       BIGINT NOT NULL,
    from_referrer VARCHAR(128) NOT NULL,
    to_referrer   VARCHAR(128) NOT NULL,
    source        VARCHAR(32) NOT NULL,
    changed_at    DATETIME(6) NULL,
    actor         VARCHAR(128) NOT NULL,
    reason        VARCHAR(512) NOT NULL,
    PRIMARY KEY (programme_id, user_id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS {{prefix}}ref_attributions (
    programme_id VARCHAR(128) NOT NULL,
    order_ref    VARCHAR(128) NOT NULL,
    buyer_id     VARCHAR(128) NOT NULL,
    attributed_at DATETIME(6) NOT NULL,
    policy_name  VARCHAR(128) NOT NULL,
    policy_version INTEGER NOT NULL,
    snapshot     LONGTEXT NOT NULL,
    created_at   DATETIME(6) NULL,
    PRIMARY KEY (programme_id, order_ref)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
