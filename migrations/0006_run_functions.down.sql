-- Back to 0005: StartRun and FinishRun sent statement by statement by the
-- daemon (a daemon of that version).
DROP FUNCTION metad_finish_runs(bigint[], text[], text[], text);
DROP FUNCTION metad_start_runs(text[], text[], text[], integer[], text[], text);
DROP FUNCTION metad_finish_run(bigint, text, text, text);
DROP FUNCTION metad_start_run(text, text, text, integer, text, text);
DROP FUNCTION metad_run_answer(bigint, text, text, bigint, bigint);
DROP TYPE metad_run_result;
DROP FUNCTION metad_expire_run(bigint, text);
