-- A running job's resume point (jobs/<id>/resume.safetensors): the last epoch it saved, and the
-- file's sha256 (the file is in `blobs` on PostgreSQL). `resumes`: a JSON list of the times the
-- job was resumed, each {"after_epoch", "at", "why"}.
ALTER TABLE jobs ADD COLUMN resume_epoch INTEGER;
ALTER TABLE jobs ADD COLUMN resume_sha256 TEXT;
ALTER TABLE jobs ADD COLUMN resumes TEXT;
