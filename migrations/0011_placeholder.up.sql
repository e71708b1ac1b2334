-- Placeholder for migration 0011 (another branch); DROP THIS COMMIT ON MERGE.
SELECT 1;
