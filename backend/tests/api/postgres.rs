//! The behaviour suite on PostgreSQL.

behaviour_suite!(Postgres);
