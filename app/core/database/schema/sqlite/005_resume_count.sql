-- How many times each job was resumed (the length of `resumes`), so the runners' heartbeat
-- reads only the interrupted jobs that may still be resumed automatically.
ALTER TABLE jobs ADD COLUMN resume_count INTEGER NOT NULL DEFAULT 0;
UPDATE jobs SET resume_count = json_array_length(resumes) WHERE resumes IS NOT NULL;
