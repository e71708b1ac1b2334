-- Placeholder for migration 0010 (another branch); DROP THIS COMMIT ON MERGE.
SELECT 1;
