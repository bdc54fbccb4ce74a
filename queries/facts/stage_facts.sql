-- stage_facts: the stages of the touched cases, exactly as
-- queries/stages.sql defines them (start, statutory deadline, completion,
-- on time, extensions counted). Whether a stage still open counts as late
-- or overdue at a given instant is decided by the counting queries.
SELECT * FROM stages
