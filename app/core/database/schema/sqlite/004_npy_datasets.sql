-- Data sets may be .npy series (trained on memory-mapped). SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt with the new one, rows and sequence kept.
CREATE TABLE datasets_new (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    format TEXT NOT NULL CHECK (format IN ('npz', 'csv', 'npy')),
    bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    summary TEXT NOT NULL  -- JSON: npz: n, steps, input_size, output_size; CSV: rows, columns; npy: rows, features, dtype
);
INSERT INTO datasets_new (seq, id, created_at, format, bytes, sha256, summary)
    SELECT seq, id, created_at, format, bytes, sha256, summary FROM datasets;
DROP TABLE datasets;
ALTER TABLE datasets_new RENAME TO datasets;
