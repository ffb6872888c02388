-- 0007_harvests_unfetched_warnings: what a harvest could not do, in its row (public reads).
-- unfetched counts the documents the source listed but could not return (for GEO, the uids
-- esummary answered with an error), unfetched_ids keeps the first of their ids (capped by the
-- source's max_unfetched_ids), and warnings counts the values left out of published records
-- because they could not be read.
ALTER TABLE harvests
    ADD COLUMN unfetched     bigint NOT NULL DEFAULT 0,
    ADD COLUMN unfetched_ids text[] NOT NULL DEFAULT '{}',
    ADD COLUMN warnings      bigint NOT NULL DEFAULT 0;
