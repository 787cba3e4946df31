-- Data sets may be .npy series (trained on memory-mapped).
ALTER TABLE datasets DROP CONSTRAINT datasets_format_check;
ALTER TABLE datasets ADD CONSTRAINT datasets_format_check CHECK (format IN ('npz', 'csv', 'npy'));
