-- The core logbook: task types, their dependencies, runs (the seed's
-- task_log), files, and the audit trail of every state change.

-- Times cross the wire as microseconds since the Unix epoch: exact, and
-- independent of the session's time zone.
CREATE FUNCTION metad_us(t timestamptz) RETURNS bigint
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$;
CREATE FUNCTION metad_ts(us bigint) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT timestamptz 'epoch' + us * interval '1 microsecond' $$;

CREATE TABLE tasks (
  id                    bigserial PRIMARY KEY,
  name                  text        NOT NULL UNIQUE,
  description           text        NOT NULL DEFAULT '',
  max_attempts          integer     NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  default_lease_seconds integer     NOT NULL DEFAULT 60
                        CHECK (default_lease_seconds BETWEEN 1 AND 86400),
  create_time           timestamptz NOT NULL DEFAULT now(),
  update_time           timestamptz NOT NULL DEFAULT now()
);

-- parent -> child: the child waits for the parent.
CREATE TABLE task_dependencies (
  parent_id   bigint      NOT NULL REFERENCES tasks (id),
  child_id    bigint      NOT NULL REFERENCES tasks (id),
  create_time timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (parent_id, child_id),
  CHECK (parent_id <> child_id)
);
-- Walking upstream (child -> parents) needs the other direction.
CREATE INDEX task_dependencies_child ON task_dependencies (child_id, parent_id);

-- One row per run (attempt) of a task in a batch.
CREATE TABLE task_log (
  id                bigserial   PRIMARY KEY,
  task_id           bigint      NOT NULL REFERENCES tasks (id),
  batch_id          text        NOT NULL,
  status            text        NOT NULL
                    CHECK (status IN ('PROCESSING', 'SUCCESS', 'ERROR')),
  attempt           integer     NOT NULL CHECK (attempt >= 1),
  worker_id         text        NOT NULL DEFAULT '',
  lease_seconds     integer     NOT NULL CHECK (lease_seconds BETWEEN 1 AND 86400),
  lease_expire_time timestamptz,
  error_message     text        NOT NULL DEFAULT '',
  request_id        text,
  start_time        timestamptz NOT NULL DEFAULT now(),
  heartbeat_time    timestamptz,
  end_time          timestamptz,
  CHECK ((status = 'PROCESSING') = (lease_expire_time IS NOT NULL)),
  CHECK ((status = 'PROCESSING') = (end_time IS NULL))
);
-- The rules "one PROCESSING run per (task, batch)" and "a task succeeds at
-- most once per batch" are enforced by the database, not by a read first.
CREATE UNIQUE INDEX task_log_one_processing ON task_log (task_id, batch_id)
  WHERE status = 'PROCESSING';
CREATE UNIQUE INDEX task_log_one_success ON task_log (task_id, batch_id)
  WHERE status = 'SUCCESS';
CREATE UNIQUE INDEX task_log_request_id ON task_log (request_id)
  WHERE request_id IS NOT NULL;
CREATE INDEX task_log_batch ON task_log (batch_id, task_id, id);
CREATE INDEX task_log_task ON task_log (task_id, id);
-- The lease reaper's scan.
CREATE INDEX task_log_lease ON task_log (lease_expire_time)
  WHERE status = 'PROCESSING';

CREATE TABLE files (
  id            bigserial   PRIMARY KEY,
  source        text        NOT NULL,
  file_name     text        NOT NULL,
  status        text        NOT NULL DEFAULT 'NEW'
                CHECK (status IN ('NEW', 'PROCESSING', 'SUCCESS', 'ERROR')),
  checksum      text        NOT NULL DEFAULT '',
  size_bytes    bigint      CHECK (size_bytes >= 0),
  attributes    jsonb       NOT NULL DEFAULT '{}',
  -- The run holding (PROCESSING) or last processing the file: the seed's
  -- link to task_log.
  run_id        bigint      REFERENCES task_log (id),
  error_message text        NOT NULL DEFAULT '',
  request_id    text,
  create_time   timestamptz NOT NULL DEFAULT now(),
  update_time   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT files_source_file_name UNIQUE (source, file_name),
  CHECK ((status = 'PROCESSING') <= (run_id IS NOT NULL))
);
-- Claiming scans only NEW rows, oldest first.
CREATE INDEX files_new ON files (id) WHERE status = 'NEW';
CREATE INDEX files_new_by_source ON files (source, id) WHERE status = 'NEW';
-- Finishing or expiring a run finds the files it holds.
CREATE INDEX files_held ON files (run_id) WHERE status = 'PROCESSING';
CREATE INDEX files_run ON files (run_id, id);
CREATE INDEX files_status ON files (status, id);
CREATE INDEX files_create_time ON files (create_time, id);
ALTER TABLE files SET (autovacuum_vacuum_scale_factor = 0.05);

CREATE TABLE file_events (
  id          bigserial   PRIMARY KEY,
  file_id     bigint      NOT NULL REFERENCES files (id),
  kind        text        NOT NULL,
  from_status text,
  to_status   text        NOT NULL,
  run_id      bigint,
  message     text        NOT NULL DEFAULT '',
  event_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX file_events_file ON file_events (file_id, id);

CREATE TABLE run_events (
  id          bigserial   PRIMARY KEY,
  run_id      bigint      NOT NULL REFERENCES task_log (id),
  kind        text        NOT NULL,
  from_status text,
  to_status   text        NOT NULL,
  message     text        NOT NULL DEFAULT '',
  event_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_events_run ON run_events (run_id, id);
