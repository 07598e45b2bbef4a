-- The console's people: accounts with a role (customer accounts scoped to sites), their
-- signed-in sessions, and the audit log of every action taken through the console.
-- Ids are text made by the code (no engine-specific auto-increment); times are UTC text.

CREATE TABLE console_users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,             -- argon2id, as argon2-cffi writes it
    role           TEXT NOT NULL,             -- admin | operator | viewer | customer
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    disabled_at    TEXT                       -- set: no sign-in, sessions ended
);

-- The sites a customer account may see (other roles see every site).
CREATE TABLE console_user_sites (
    username  TEXT NOT NULL REFERENCES console_users (username),
    site_id   TEXT NOT NULL,
    PRIMARY KEY (username, site_id)
);

CREATE TABLE console_sessions (
    session_hash  TEXT PRIMARY KEY,           -- sha256 of the cookie's id: the id is never stored
    username      TEXT NOT NULL REFERENCES console_users (username),
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    address       TEXT
);
CREATE INDEX console_sessions_user ON console_sessions (username);

CREATE TABLE console_audit (
    audit_id  TEXT PRIMARY KEY,               -- time-ordered: nanoseconds, then random
    at        TEXT NOT NULL,
    username  TEXT,                           -- NULL: nobody signed in (a failed sign-in)
    action    TEXT NOT NULL,                  -- e.g. sign_in, order_ship, alert_acknowledge
    target    TEXT,                           -- what it acted on (an order id, an alert key)
    outcome   TEXT NOT NULL,                  -- ok | refused | failed
    detail    TEXT,
    address   TEXT                            -- the client address, or "cli"
);
CREATE INDEX console_audit_at ON console_audit (at);
