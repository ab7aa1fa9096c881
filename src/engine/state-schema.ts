/** The state store's schema, as a list of migrations applied in order on open. */

// Each entry upgrades the schema by one version; never edit a shipped one,
// append a new one (old state.db files are migrated in order on open).
export const MIGRATIONS: readonly string[] = [
  /* v1 */ `
  CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    power TEXT,
    ip TEXT,
    profile TEXT,
    last_error TEXT,
    updated_at INTEGER NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_node ON events(node, id);
  CREATE TABLE leases (
    mac TEXT PRIMARY KEY,
    ip TEXT NOT NULL UNIQUE,
    ip_int INTEGER NOT NULL,
    hostname TEXT,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL
  );
  CREATE INDEX leases_ip_int ON leases(ip_int);
  CREATE TABLE resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    pid INTEGER,
    data TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
  );
  CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE node_claims (
    node TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    note TEXT
  );
  `,
  /* v2: per-node credentials for what a booting node calls back (ramdisk, cloud-init) */ `
  CREATE TABLE node_tokens (
    token_hash TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    purpose TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX node_tokens_node ON node_tokens(node);
  `,
  /* v3: the seed service's users (API tokens) and node leases for CI and shared labs */ `
  CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_used_at INTEGER
  );
  CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_at IS NULL;
  CREATE TABLE node_leases (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    nodes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT,
    keep INTEGER NOT NULL DEFAULT 0,
    created_by TEXT
  );
  CREATE INDEX node_leases_live ON node_leases(ended_at, expires_at);
  -- the primary key is the guarantee that one node is never in two leases, whatever the code does
  CREATE TABLE node_lease_members (
    node TEXT PRIMARY KEY,
    lease_id TEXT NOT NULL REFERENCES node_leases(id)
  );
  CREATE INDEX node_lease_members_lease ON node_lease_members(lease_id);
  `,
  /* v2 */ `
  -- what a lease's release did to each node (wiped, clean, kept, failed with its error)
  ALTER TABLE node_leases ADD COLUMN outcomes TEXT NOT NULL DEFAULT '{}';
  -- acquire --provision: the lease's own SSH public key, which the nodes' user-data authorizes
  ALTER TABLE node_leases ADD COLUMN ssh_key TEXT;
  `,
  /* v5: the status page's login sessions (a SHA-256 of the cookie's id, bound to its token's row), kept across service restarts */ `
  CREATE TABLE api_sessions (
    id_hash TEXT PRIMARY KEY,
    token_id INTEGER NOT NULL REFERENCES api_tokens(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE INDEX api_sessions_expiry ON api_sessions(expires_at);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;
