-- Files in parts of at most 16 MiB (app/core/database/postgres.py: PART_BYTES): a file is
-- written and read a part at a time, so a data set larger than memory passes through, and a
-- BYTEA value stays far below PostgreSQL's 1 GiB bound. The files of `blobs` become part 0.
CREATE TABLE blob_parts (
    sha256 TEXT NOT NULL,
    part INTEGER NOT NULL,
    content BYTEA NOT NULL,
    PRIMARY KEY (sha256, part)
);
INSERT INTO blob_parts (sha256, part, content) SELECT sha256, 0, content FROM blobs;
DROP TABLE blobs;
