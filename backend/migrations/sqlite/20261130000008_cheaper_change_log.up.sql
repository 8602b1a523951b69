-- Nothing on SQLite: this version makes PostgreSQL's change-log triggers cheaper (SQLite's
-- already have one trigger per kind of change). Kept so both backends number their versions
-- alike.
SELECT 1;
