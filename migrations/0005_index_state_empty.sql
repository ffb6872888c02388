-- 0005_index_state_empty: a record with no text a backend can index is "empty" there, a terminal
-- state that is not a failure (last_error holds the reason), instead of failing forever.
ALTER TABLE index_state DROP CONSTRAINT index_state_state_check;
ALTER TABLE index_state ADD CONSTRAINT index_state_state_check
    CHECK (state IN ('pending', 'indexed', 'failed', 'deleted', 'empty'));
