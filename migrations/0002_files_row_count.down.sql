ALTER TABLE files DROP COLUMN row_count;
