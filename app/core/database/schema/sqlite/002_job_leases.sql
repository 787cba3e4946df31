-- Jobs are claimed by one server process among many and held with a lease it renews; a job
-- whose lease ran out (its process died) is interrupted by whichever process notices first.
ALTER TABLE jobs ADD COLUMN owner TEXT;              -- "host:pid" of the claiming process
ALTER TABLE jobs ADD COLUMN lease_expires_at REAL;   -- Unix time
ALTER TABLE jobs ADD COLUMN data_sha256 TEXT;        -- of jobs/<id>/data.npz
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, seq);
