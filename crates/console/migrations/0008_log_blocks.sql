-- Log records stored whole in compressed blocks (store/blocks/logs.rs), with a row per trace
-- and block instead of a row and two index entries per record. The console moves the records
-- of the `logs` table into blocks when it opens the database, then drops the table.
CREATE TABLE log_blocks (
    id          INTEGER PRIMARY KEY,
    log_count   INTEGER NOT NULL,
    min_time_us INTEGER NOT NULL,
    max_time_us INTEGER NOT NULL,
    data        BLOB    NOT NULL
);
CREATE INDEX log_blocks_max_time ON log_blocks (max_time_us);

CREATE TABLE log_block_traces (
    trace_seq INTEGER NOT NULL,
    block_id  INTEGER NOT NULL,
    PRIMARY KEY (trace_seq, block_id)
) WITHOUT ROWID;
CREATE INDEX log_block_traces_block ON log_block_traces (block_id);
