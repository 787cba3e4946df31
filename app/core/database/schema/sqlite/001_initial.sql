-- The tables of a data directory before versioned migrations; IF NOT EXISTS so that a database
-- created then is taken over as version 1 unchanged.
CREATE TABLE IF NOT EXISTS model_versions (
    version TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,         -- of the stored model.safetensors
    source_sha256 TEXT NOT NULL,  -- of the file it was imported from (= sha256 if none)
    source TEXT NOT NULL,         -- JSON provenance: import path, training job, ...
    metrics TEXT NOT NULL,        -- JSON
    config TEXT NOT NULL,         -- JSON LSTMConfig, so listing never opens checkpoints
    metadata TEXT NOT NULL        -- JSON checkpoint header: training summary
);
CREATE TABLE IF NOT EXISTS active_model (
    slot INTEGER PRIMARY KEY CHECK (slot = 0),
    version TEXT NOT NULL REFERENCES model_versions (version)
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    revision INTEGER NOT NULL DEFAULT 0,    -- bumped on every change: cheap polling
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    spec TEXT NOT NULL,       -- JSON: model, training, init_from, activate
    data TEXT NOT NULL,       -- JSON summary of the job's data
    progress TEXT,            -- JSON: the last finished epoch
    model_version TEXT REFERENCES model_versions (version),
    result TEXT,              -- JSON: metrics of the finished run
    error TEXT,               -- JSON: {"code", "message"}
    activation TEXT,          -- JSON: the activation policy's outcome; NULL while pending
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_epochs (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    epoch INTEGER NOT NULL,
    train_loss REAL NOT NULL,
    val_loss REAL,
    elapsed_s REAL NOT NULL,
    PRIMARY KEY (job_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS datasets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('npz', 'csv')),
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL  -- JSON: npz: n, steps, input_size, output_size; CSV: rows, columns
);
