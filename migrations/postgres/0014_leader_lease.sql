-- The sync leader's lease (see src/sync/leader.rs): one row per election naming the replica
-- that holds it, an epoch raised at every change of holder, a count of its renewals (a renewal
-- names the count it saw last, so a renewal delivered late renews at most once), and when the
-- lease ends in the database's clock. The leader renews it every second; another replica takes it over only once
-- it has ended. SQLite needs none: one process owns the file (see src/ledger/file_lock.rs).
CREATE TABLE leader_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    renewal BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
