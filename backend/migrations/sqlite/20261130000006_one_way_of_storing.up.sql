-- Nothing changes here: this version brings the PostgreSQL schema to the way SQLite already
-- stores times (bound by the service) and case keys (*_key columns). It exists so that both
-- backends have the same versions.
SELECT 1;
