-- Back to 0016: key=value selector terms are served by jsonb_ops alone.
DROP INDEX IF EXISTS files_attribute_pairs;
DROP INDEX IF EXISTS task_log_label_pairs;
