//! Every write the store makes reports a failure of its commit: no method answers success for
//! a write that was not committed.
//!
//! The failure is injected at the last possible moment: a trigger on every table inserts a row
//! whose foreign key is checked only at commit (`DEFERRABLE INITIALLY DEFERRED`) and can never
//! be satisfied. A statement outside a transaction commits at its own end, so this fails it
//! exactly where SQLite's full disk did: after a `RETURNING` row exists, before the statement
//! finishes. Each case must then fail with that violation, on both backends.
//!
//! The table lists every write method of [`Store`]; every other public method of the store is
//! listed as one that does not write, and a test reads the store's source to check that these
//! two lists name every method: a new method without a case fails it.

use std::{collections::HashMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::{TimeDelta, Utc};
use sqlx::{Connection, Executor, PgConnection, SqliteConnection, error::ErrorKind};
use uuid::Uuid;

use super::{CategoryEdit, NewCategory, Placement, Store, StoreError, StoreResult};
use crate::{
    core::settings::{DatabaseBackend, Settings},
    models::{
        Caller, Category, CategoryKind, CategoryName, DisplayName, Email, Pick, RecurrenceRule,
        TagColor, TagId, TagName, Task, TaskFields, TaskId, TaskTitle, TaskWrite, TimeZoneName,
    },
};

/// The store's public methods that do not write, and why they have no case.
const NOT_WRITES: &[(&str, &str)] = &[
    ("find_user", "reads"),
    ("find_user_by_email", "reads"),
    ("find_session", "reads"),
    ("check_session", "reads"),
    ("find_task", "reads"),
    ("list_tasks", "reads"),
    ("list_reminders", "reads"),
    ("list_tags", "reads"),
    ("find_tag", "reads"),
    ("list_categories", "reads"),
    ("list_all_categories", "reads"),
    ("find_category", "reads"),
    ("resolve_names", "reads"),
    ("caller_log_end", "reads"),
    ("log_end", "reads"),
    ("changes_after", "reads"),
    ("users_changed_since", "reads"),
    ("probe", "reads (SELECT 1 on a connection of its own)"),
    ("migration_status", "reads"),
    ("close", "closes the pools"),
    (
        "create_database_if_missing",
        "CREATE DATABASE, outside any transaction, at start",
    ),
    (
        "migrate_up",
        "the schema: sqlx's migrator commits each migration itself and reports its failure",
    ),
    ("migrate_down", "the schema, as migrate_up"),
];

/// What the cases write to: one user's account, session, tags and tasks.
#[derive(Clone)]
struct Fixture {
    caller: Caller,
    jti: Uuid,
    /// Linked to `task`.
    linked_tag: TagId,
    /// Not linked to anything.
    spare_tag: TagId,
    /// Open, with a reminder due and `linked_tag`.
    task: TaskId,
    /// Open and recurring (daily), so completing it creates its successor.
    recurring: TaskId,
}

type Outcome = Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>;

/// A write of the store, as one case: its name (the method's), and the call.
struct Case {
    method: &'static str,
    /// What this case covers of the method, when it has several cases.
    path: &'static str,
    postgres_only: bool,
    call: Box<dyn Fn(Arc<Store>, Fixture) -> Outcome>,
}

fn case(
    method: &'static str,
    path: &'static str,
    call: impl Fn(Arc<Store>, Fixture) -> Outcome + 'static,
) -> Case {
    Case {
        method,
        path,
        postgres_only: false,
        call: Box::new(call),
    }
}

fn postgres_only(case: Case) -> Case {
    Case {
        postgres_only: true,
        ..case
    }
}

fn fields(title: &str) -> TaskFields {
    TaskFields {
        title: TaskTitle::parse(title).unwrap(),
        description: None,
        completed: false,
        status: Pick::Default,
        priority: Pick::Named("high".to_owned()),
        due_date: None,
        remind_at: None,
        recurrence_rule: None,
    }
}

/// The id of the fixture user's status of this name.
async fn status_id(store: &Store, fixture: &Fixture, name: &str) -> StoreResult<i64> {
    let statuses = store
        .list_categories(&fixture.caller, CategoryKind::Status)
        .await?;
    Ok(statuses
        .iter()
        .find(|s| s.name == name)
        .expect("a default")
        .id)
}

fn tag_name(name: &str) -> TagName {
    TagName::parse(name).unwrap()
}

/// Every write method of the store, each path through it that commits differently.
fn cases() -> Vec<Case> {
    let later = || Utc::now() + TimeDelta::days(7);
    vec![
        case("insert_user", "", |s, _| {
            Box::pin(async move {
                let email = Email::parse("second@example.com").unwrap();
                s.insert_user(&email, "hash", None).await.map(drop)
            })
        }),
        case("update_profile", "", |s, f| {
            Box::pin(async move {
                let name = DisplayName::parse("Renamed").unwrap();
                let zone = TimeZoneName::parse("Europe/Paris").unwrap();
                s.update_profile(&f.caller, Some(name.as_ref()), Some(&zone))
                    .await
                    .map(drop)
            })
        }),
        case("update_password_hash", "", |s, f| {
            Box::pin(async move { s.update_password_hash(f.caller.user_id, "new hash").await })
        }),
        case("change_password", "", |s, f| {
            Box::pin(async move { s.change_password(&f.caller, "new hash").await })
        }),
        case("delete_user", "", |s, f| {
            Box::pin(async move { s.delete_user(&f.caller).await })
        }),
        case("create_session", "", move |s, f| {
            Box::pin(async move {
                let (id, jti) = (Uuid::new_v4(), Uuid::new_v4());
                s.create_session(id, f.caller.user_id, jti, later()).await
            })
        }),
        case("rotate_session", "", move |s, f| {
            Box::pin(async move {
                let (session, user) = (f.caller.session_id, f.caller.user_id);
                let rotated = s
                    .rotate_session(session, user, f.jti, Uuid::new_v4(), Utc::now(), later())
                    .await?;
                assert!(rotated, "the fixture's token is current");
                Ok(())
            })
        }),
        case("revoke_session", "", |s, f| {
            Box::pin(async move {
                s.revoke_session(f.caller.session_id, f.caller.user_id)
                    .await
            })
        }),
        case("create_task", "one statement", |s, f| {
            Box::pin(async move {
                let write = TaskWrite {
                    fields: fields("New"),
                    tags: None,
                    completed_given: false,
                };
                s.create_task(&f.caller, write).await.map(drop)
            })
        }),
        case("create_task", "with tags, a transaction", |s, f| {
            Box::pin(async move {
                let write = TaskWrite {
                    fields: fields("New, tagged"),
                    tags: Some(vec![f.linked_tag]),
                    completed_given: false,
                };
                s.create_task(&f.caller, write).await.map(drop)
            })
        }),
        case("edit_task", "fields (unlocked on PostgreSQL)", |s, f| {
            Box::pin(async move {
                let edit = |task: &Task| {
                    Ok::<_, StoreError>(TaskFields {
                        priority: Pick::Default,
                        ..TaskFields::from(task)
                    })
                };
                s.edit_task(&f.caller, f.task, None, edit).await.map(drop)
            })
        }),
        case("edit_task", "with tags", |s, f| {
            Box::pin(async move {
                let edit = |task: &Task| Ok::<_, StoreError>(TaskFields::from(task));
                let tags = Some(vec![f.spare_tag]);
                s.edit_task(&f.caller, f.task, tags, edit).await.map(drop)
            })
        }),
        case("edit_task", "completing an occurrence", |s, f| {
            Box::pin(async move {
                let edit = |task: &Task| {
                    Ok::<_, StoreError>(TaskFields {
                        completed: true,
                        ..TaskFields::from(task)
                    })
                };
                let task = s.edit_task(&f.caller, f.recurring, None, edit).await?;
                assert!(task.successor_id.is_some(), "the edit made a successor");
                Ok(())
            })
        }),
        case("delete_task", "", |s, f| {
            Box::pin(async move {
                let deleted = s.delete_task(&f.caller, f.task).await?;
                assert!(deleted, "the fixture's task exists");
                Ok(())
            })
        }),
        case("link_tag", "", |s, f| {
            Box::pin(async move {
                let (_, new) = s.link_tag(&f.caller, f.task, f.spare_tag).await?;
                assert!(new, "the spare tag was not linked");
                Ok(())
            })
        }),
        case("unlink_tag", "", |s, f| {
            Box::pin(async move {
                s.unlink_tag(&f.caller, f.task, f.linked_tag)
                    .await
                    .map(drop)
            })
        }),
        case("claim_due_reminders", "", |s, _| {
            Box::pin(async move {
                let claimed = s.claim_due_reminders(10).await?;
                assert!(!claimed.is_empty(), "the fixture's reminder is due");
                Ok(())
            })
        }),
        case("insert_tag", "", |s, f| {
            Box::pin(async move {
                let color = TagColor::parse("#00ff00").unwrap();
                s.insert_tag(&f.caller, &tag_name("new"), Some(&color))
                    .await
                    .map(drop)
            })
        }),
        case("edit_tag", "", |s, f| {
            Box::pin(async move {
                let edit = |_: &_| Ok::<_, StoreError>((tag_name("renamed"), None));
                s.edit_tag(&f.caller, f.spare_tag, edit).await.map(drop)
            })
        }),
        case("delete_tag", "", |s, f| {
            Box::pin(async move {
                let deleted = s.delete_tag(&f.caller, f.spare_tag).await?;
                assert!(deleted, "the fixture's tag exists");
                Ok(())
            })
        }),
        case("move_task", "", |s, f| {
            Box::pin(async move {
                let placement = Placement::Before(f.recurring);
                s.move_task(&f.caller, f.task, placement).await.map(drop)
            })
        }),
        case("reorder_tasks", "", |s, f| {
            Box::pin(async move {
                let ids = [f.recurring, f.task];
                s.reorder_tasks(&f.caller, &ids).await.map(drop)
            })
        }),
        case("skip_task", "", |s, f| {
            Box::pin(async move { s.skip_task(&f.caller, f.recurring).await.map(drop) })
        }),
        case("delete_series", "", |s, f| {
            Box::pin(async move {
                let deleted = s.delete_series(&f.caller, f.recurring).await?;
                assert!(deleted, "the fixture's series exists");
                Ok(())
            })
        }),
        case("edit_following", "", |s, f| {
            Box::pin(async move {
                let edit = |task: &Task| {
                    Ok::<_, StoreError>(TaskFields {
                        title: TaskTitle::parse("Renamed series").unwrap(),
                        ..TaskFields::from(task)
                    })
                };
                s.edit_following(&f.caller, f.recurring, None, edit, edit)
                    .await
                    .map(drop)
            })
        }),
        case("insert_category", "", |s, f| {
            Box::pin(async move {
                let new = NewCategory {
                    name: CategoryName::parse("waiting").unwrap(),
                    color: None,
                    position: None,
                    done: false,
                    is_default: true,
                };
                let kind = CategoryKind::Status;
                s.insert_category(&f.caller, kind, &new).await.map(drop)
            })
        }),
        case("edit_category", "a rename, logged for its tasks", |s, f| {
            Box::pin(async move {
                let id = status_id(&s, &f, "not_started").await?;
                let edit = |current: &Category| {
                    Ok::<_, StoreError>(CategoryEdit {
                        name: "to_do".to_owned(),
                        color: None,
                        position: current.position,
                        make_default: false,
                    })
                };
                let kind = CategoryKind::Status;
                s.edit_category(&f.caller, kind, id, edit).await.map(drop)
            })
        }),
        case("delete_category", "with a replacement", |s, f| {
            Box::pin(async move {
                let id = status_id(&s, &f, "in_progress").await?;
                let replacement = status_id(&s, &f, "not_started").await?;
                let kind = CategoryKind::Status;
                let deleted = s.delete_category(&f.caller, kind, id, Some(replacement));
                assert!(deleted.await?, "the status exists");
                Ok(())
            })
        }),
        case("prune_changes", "", |s, _| {
            Box::pin(async move {
                let pruned = s.prune_changes(i64::MAX, 1000).await?;
                assert!(pruned > 0, "the fixture's writes are in the log");
                Ok(())
            })
        }),
        postgres_only(case("take_rate_budget", "", |s, _| {
            Box::pin(async move {
                let minute = Duration::from_secs(60);
                s.take_rate_budget("login", "192.0.2.1", minute, 5)
                    .await
                    .map(drop)
            })
        })),
        postgres_only(case("prune_rate_budgets", "", |s, _| {
            Box::pin(async move {
                let pruned = s.prune_rate_budgets(100).await?;
                assert!(pruned > 0, "the fixture's budget has expired");
                Ok(())
            })
        })),
    ]
}

/// Makes the fixture's rows, with nothing armed yet.
async fn fixture(store: &Store) -> Fixture {
    let email = Email::parse("first@example.com").unwrap();
    let user = store.insert_user(&email, "hash", None).await.unwrap();
    let (session_id, jti) = (Uuid::new_v4(), Uuid::new_v4());
    let expires = Utc::now() + TimeDelta::days(7);
    store
        .create_session(session_id, user.id, jti, expires)
        .await
        .unwrap();
    let caller = Caller {
        user_id: user.id,
        session_id,
    };
    let linked_tag = store
        .insert_tag(&caller, &tag_name("linked"), None)
        .await
        .unwrap()
        .id;
    let spare_tag = store
        .insert_tag(&caller, &tag_name("spare"), None)
        .await
        .unwrap()
        .id;
    let reminded = TaskFields {
        remind_at: Some(Utc::now() - TimeDelta::hours(1)),
        ..fields("Reminded")
    };
    let write = TaskWrite {
        fields: reminded,
        tags: Some(vec![linked_tag]),
        completed_given: false,
    };
    let task = store.create_task(&caller, write).await.unwrap().id;
    let daily = TaskFields {
        due_date: Some(Utc::now() + TimeDelta::hours(1)),
        recurrence_rule: Some(RecurrenceRule::parse("FREQ=DAILY").unwrap()),
        ..fields("Daily")
    };
    let write = TaskWrite {
        fields: daily,
        tags: None,
        completed_given: false,
    };
    let recurring = store.create_task(&caller, write).await.unwrap().id;
    if store.backend() == DatabaseBackend::Postgres {
        // A budget of one request a microsecond: whole again (so prunable) a moment later.
        let take = store.take_rate_budget("register", "192.0.2.2", Duration::from_micros(1), 1);
        take.await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Fixture {
        caller,
        jti,
        linked_tag,
        spare_tag,
        task,
        recurring,
    }
}

/// A database of the test's own: a SQLite file in a directory of its own, or a database on the
/// PostgreSQL server of `TEST_DATABASE_URL`. Removed at the end of the test by its caller.
struct Scratch {
    url: String,
    /// The server and the database's name (PostgreSQL).
    postgres: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl Scratch {
    fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("todo-commit-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            url: format!("sqlite://{}", dir.join("todo.db").display()),
            postgres: None,
            dir: Some(dir),
        }
    }

    /// `None` (having said so) when the server does not answer and `REQUIRE_POSTGRES` is not 1.
    async fn postgres() -> Option<Self> {
        let server = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
            .trim_end_matches('/')
            .to_owned();
        let connect = PgConnection::connect(&format!("{server}/postgres"));
        let mut admin = match tokio::time::timeout(Duration::from_secs(5), connect).await {
            Ok(Ok(conn)) => conn,
            outcome => {
                assert!(
                    std::env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
                    "REQUIRE_POSTGRES=1, but PostgreSQL is unavailable: {outcome:?}"
                );
                eprintln!("*** SKIPPED: the store's PostgreSQL commit test: no server ***");
                return None;
            }
        };
        let name = format!("todo_commit_{}", Uuid::new_v4().simple());
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await
            .unwrap();
        Some(Self {
            url: format!("{server}/{name}"),
            postgres: Some((server, name)),
            dir: None,
        })
    }

    async fn store(&self) -> Arc<Store> {
        let vars: HashMap<String, String> = [
            ("DATABASE_URL", self.url.as_str()),
            ("JWT_SECRET_KEY", &"ab".repeat(32)),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let store = super::connect(&Settings::from_vars(&vars).unwrap())
            .await
            .unwrap();
        store.migrate_up().await.unwrap();
        store
    }

    async fn remove(self) {
        if let Some((server, name)) = &self.postgres {
            let mut admin = PgConnection::connect(&format!("{server}/postgres"))
                .await
                .unwrap();
            let drop = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
            admin.execute(drop.as_str()).await.unwrap();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Arms (or, with `armed` false, disarms) the commit that cannot succeed: every insert,
    /// update or delete of any of the service's tables makes its transaction's commit fail.
    async fn arm(&self, armed: bool) {
        match &self.postgres {
            Some(_) => {
                let mut conn = PgConnection::connect(&self.url).await.unwrap();
                let sql = if armed {
                    "CREATE TABLE guard_target (id bigint PRIMARY KEY); \
                     CREATE TABLE commit_guard (target bigint REFERENCES guard_target (id) \
                                                DEFERRABLE INITIALLY DEFERRED); \
                     CREATE FUNCTION guard() RETURNS trigger LANGUAGE plpgsql AS \
                         $$ BEGIN INSERT INTO commit_guard VALUES (-1); RETURN NULL; END $$; \
                     DO $$ DECLARE t text; BEGIN \
                         FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' \
                                  AND tablename NOT IN ('_sqlx_migrations', 'guard_target', \
                                                        'commit_guard') LOOP \
                             EXECUTE format('CREATE TRIGGER guard AFTER INSERT OR UPDATE OR \
                                             DELETE ON %I FOR EACH STATEMENT \
                                             EXECUTE FUNCTION guard()', t); \
                         END LOOP; END $$"
                        .to_owned()
                } else {
                    "DROP FUNCTION guard() CASCADE; DROP TABLE commit_guard, guard_target"
                        .to_owned()
                };
                conn.execute(sql.as_str()).await.unwrap();
            }
            None => {
                let mut conn = SqliteConnection::connect(&self.url).await.unwrap();
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' \
                     AND name NOT IN ('_sqlx_migrations', 'guard_target', 'commit_guard')",
                )
                .fetch_all(&mut conn)
                .await
                .unwrap();
                let mut sql = String::new();
                if armed {
                    sql.push_str(
                        "CREATE TABLE guard_target (id INTEGER PRIMARY KEY); \
                         CREATE TABLE commit_guard (target INTEGER REFERENCES guard_target (id) \
                                                    DEFERRABLE INITIALLY DEFERRED);",
                    );
                }
                for (table,) in tables {
                    for op in ["INSERT", "UPDATE", "DELETE"] {
                        let trigger = format!("guard_{table}_{}", op.to_lowercase());
                        sql.push_str(&if armed {
                            format!(
                                "CREATE TRIGGER {trigger} AFTER {op} ON {table} \
                                 BEGIN INSERT INTO commit_guard VALUES (-1); END;"
                            )
                        } else {
                            format!("DROP TRIGGER {trigger};")
                        });
                    }
                }
                if !armed {
                    sql.push_str("DROP TABLE commit_guard; DROP TABLE guard_target;");
                }
                conn.execute(sql.as_str()).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

/// Each case, with every commit armed to fail, answers the failure of its commit.
async fn every_write_answers_the_failure_of_its_commit(scratch: Scratch) {
    let store = scratch.store().await;
    let fixture = fixture(&store).await;
    scratch.arm(true).await;
    let postgres = store.backend() == DatabaseBackend::Postgres;
    let mut wrong = Vec::new();
    for case in cases() {
        if case.postgres_only && !postgres {
            continue;
        }
        let outcome = (case.call)(store.clone(), fixture.clone()).await;
        let refused_at_commit = matches!(
            &outcome,
            Err(StoreError::Other(error))
                if error.as_database_error().map(|e| e.kind())
                    == Some(ErrorKind::ForeignKeyViolation)
        );
        if !refused_at_commit {
            wrong.push(format!("{} ({}): {outcome:?}", case.method, case.path));
        }
    }
    assert!(
        wrong.is_empty(),
        "{:?}: these writes did not answer the failure of their commit:\n{}",
        store.backend(),
        wrong.join("\n")
    );
    // Nothing was written, and the store writes again once commits can succeed.
    scratch.arm(false).await;
    let listed = store
        .find_task(&fixture.caller, fixture.task)
        .await
        .unwrap();
    assert_eq!(listed.unwrap().priority, "high", "an edit was kept");
    for case in cases() {
        if case.method == "edit_task" && (!case.postgres_only || postgres) {
            let outcome = (case.call)(store.clone(), fixture.clone()).await;
            assert!(
                outcome.is_ok(),
                "{} ({}): {outcome:?}",
                case.method,
                case.path
            );
        }
    }
    store.close().await;
    scratch.remove().await;
}

#[tokio::test]
async fn every_sqlite_write_answers_the_failure_of_its_commit() {
    every_write_answers_the_failure_of_its_commit(Scratch::sqlite()).await;
}

#[tokio::test]
async fn every_postgres_write_answers_the_failure_of_its_commit() {
    if let Some(scratch) = Scratch::postgres().await {
        every_write_answers_the_failure_of_its_commit(scratch).await;
    }
}

/// The store's source files: every module `mod.rs` declares (a test below holds this list to
/// it), by name.
const SOURCES: &[(&str, &str)] = &[
    ("mod", include_str!("mod.rs")),
    ("backend", include_str!("backend.rs")),
    ("users", include_str!("users.rs")),
    ("sessions", include_str!("sessions.rs")),
    ("tasks", include_str!("tasks.rs")),
    ("list", include_str!("list.rs")),
    ("tags", include_str!("tags.rs")),
    ("changes", include_str!("changes.rs")),
    ("rate_limits", include_str!("rate_limits.rs")),
    ("categories", include_str!("categories.rs")),
    ("order", include_str!("order.rs")),
    ("series", include_str!("series.rs")),
    ("dialect", include_str!("dialect.rs")),
    ("migrations", include_str!("migrations.rs")),
    ("sql", include_str!("sql.rs")),
    ("commit_failures", ""),
];

#[test]
fn every_module_of_the_store_is_read_for_its_methods() {
    let declared: Vec<&str> = include_str!("mod.rs")
        .lines()
        .filter_map(|line| {
            let line = line.trim_start_matches("pub ");
            line.strip_prefix("mod ")?.strip_suffix(';')
        })
        .collect();
    assert!(declared.len() > 10, "{declared:?}");
    for module in declared {
        assert!(
            SOURCES.iter().any(|(name, _)| *name == module),
            "db::{module} is not in SOURCES: its store methods would go unchecked"
        );
    }
}

/// The public `async fn`s of `impl Store` blocks in the store's source.
fn store_methods() -> Vec<String> {
    let sources = SOURCES.iter().map(|(_, source)| *source);
    let mut methods = Vec::new();
    for source in sources {
        let mut in_store = false;
        for line in source.lines() {
            if !line.starts_with(' ') && !line.is_empty() {
                in_store = line.starts_with("impl Store {");
            }
            let Some(rest) = line.strip_prefix("    pub async fn ") else {
                continue;
            };
            if in_store {
                let name = rest.split(['(', '<']).next().unwrap();
                methods.push(name.to_owned());
            }
        }
    }
    methods.sort();
    methods.dedup();
    methods
}

#[test]
fn every_method_of_the_store_is_a_case_or_listed_as_not_writing() {
    let methods = store_methods();
    assert!(methods.len() > 30, "the source was read: {methods:?}");
    let cases = cases();
    let listed = |name: &str| {
        cases.iter().any(|case| case.method == name)
            || NOT_WRITES.iter().any(|(method, _)| *method == name)
    };
    let unlisted: Vec<&String> = methods.iter().filter(|name| !listed(name)).collect();
    assert!(
        unlisted.is_empty(),
        "store methods with no commit-failure case (add one to cases(), or list the method in \
         NOT_WRITES if it does not write): {unlisted:?}"
    );
    let gone: Vec<&str> = (cases.iter().map(|case| case.method))
        .chain(NOT_WRITES.iter().map(|(method, _)| *method))
        .filter(|name| !methods.iter().any(|method| method == name))
        .collect();
    assert!(gone.is_empty(), "listed, but not a store method: {gone:?}");
}
