-- Rate-limit budgets shared by every service process on this database: one row per route
-- (register, login, refresh) and client address, holding the budget's theoretical arrival
-- time in Unix microseconds by the database's clock (a generic cell rate algorithm; see
-- db/rate_limits.rs). A row whose time has passed is a whole budget, the same as no row: the
-- service deletes those every minute.
--
-- UNLOGGED: an attempt writes no WAL and waits for no flush. The cost is that a crash of the
-- database server (or a failover to a replica) empties the table: every budget is whole again.
-- A restart of the service, or a clean restart of the database, keeps them.
CREATE UNLOGGED TABLE rate_limits (
    route   text   NOT NULL,
    address text   NOT NULL,
    tat     bigint NOT NULL,
    PRIMARY KEY (route, address)
);
