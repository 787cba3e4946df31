-- The shared database of replicas on many hosts: the same tables as SQLite's (schema/sqlite),
-- plus `blobs`, the files themselves (checkpoints, job data, data sets) by sha256, which each
-- replica caches in its own data directory.
CREATE TABLE model_versions (
    version TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    source TEXT NOT NULL,
    metrics TEXT NOT NULL,
    config TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE TABLE active_model (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    version TEXT NOT NULL REFERENCES model_versions (version)
);
CREATE TABLE jobs (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    revision INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    spec TEXT NOT NULL,
    data TEXT NOT NULL,
    progress TEXT,
    model_version TEXT REFERENCES model_versions (version),
    result TEXT,
    error TEXT,
    activation TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_expires_at DOUBLE PRECISION,
    data_sha256 TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, seq);
CREATE TABLE job_epochs (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    epoch INTEGER NOT NULL,
    train_loss DOUBLE PRECISION NOT NULL,
    val_loss DOUBLE PRECISION,
    elapsed_s DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
CREATE TABLE datasets (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('npz', 'csv')),
    bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    content BYTEA NOT NULL
);
