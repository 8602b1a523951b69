-- Nothing on SQLite: this version adds PostgreSQL's shared rate-limit budgets; with SQLite each
-- service process keeps its own in memory. Kept so both backends number their versions alike.
SELECT 1;
