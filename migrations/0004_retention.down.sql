DROP TABLE retention_state;
