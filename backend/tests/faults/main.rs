//! The fault suite: the real `todo-api` binary run as child processes while faults are injected.

mod sqlite_file;
