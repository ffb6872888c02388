-- 0002_harvests_one_running: a source is harvested by one harvest at a time. StartHarvest checks
-- first; this index settles the race between two processes starting the same source at once.
CREATE UNIQUE INDEX harvests_one_running ON harvests (source) WHERE state = 'running';
