//! The behaviour suite on SQLite.

behaviour_suite!(Sqlite);
