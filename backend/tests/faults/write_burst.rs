//! A burst of writes of every kind, from several clients at once, against a service whose
//! storage fails under it, and the contract it is held to (issue 27; the ledger of its answers
//! and the checks are in `ledger.rs`):
//!
//! - a write the storage refuses answers in the error shape with the fault's status and code
//!   (a full disk: 507 `INSUFFICIENT_STORAGE`; a read-only or failing one: 503
//!   `DATABASE_READ_ONLY` or `STORAGE_ERROR`), with a detail for a person that shows no
//!   internal text, and never 500;
//! - every write answered 2xx is there afterwards, as the last acknowledged write left it; a
//!   refused write left nothing; no id is answered for two creates;
//! - reads keep answering, and readiness says what is wrong with the storage.
//!
//! Each client (a lane) owns the tasks and tags it edits, so the state each of them must be in
//! follows from that lane's answers alone.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::Duration,
};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    ledger::{
        Ledger, TagState, TaskState, description, shape_problem, status_of, tag_state, task_state,
        user_key,
    },
    mounts::Filler,
    support::{Answer, PASSWORD, Service, Target, User},
};

/// Users owning the burst's tasks and tags, and clients sending it at once.
const USERS: usize = 3;
const LANES: usize = 6;
/// How long a disk-full burst lasts, and the most requests one client sends in any burst;
/// of them, sign-ups and sign-ins (each hashes a password, which is slow on purpose).
const DISK_FULL_BURST: Duration = Duration::from_secs(3);
const MAX_REQUESTS_PER_LANE: usize = 2_000;
const MAX_AUTH_PER_LANE: usize = 4;
/// How long one request may take before it counts as unanswered.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long readiness has to come to say what it must.
pub(crate) const READINESS_WITHIN: Duration = Duration::from_secs(3);
/// Text that would show an internal error's message in a `detail`.
pub(crate) const INTERNAL_TEXT: [&str; 6] = [
    "sqlite",
    "SQLITE",
    "sqlx",
    "error returned from database",
    "disk I/O",
    "code:",
];

/// The storage fault a test injects, and what the contract lets the service answer under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The disk (or the database) is full: a write answers 507 `INSUFFICIENT_STORAGE`, a read
    /// answers as always.
    DiskFull,
    /// The database's disk went read-only, or fails with I/O errors: any request may answer
    /// 503 `DATABASE_READ_ONLY` or `STORAGE_ERROR`.
    ReadOnly,
}

impl Fault {
    /// The status and the codes of a refusal.
    pub(crate) fn refusal(self) -> (StatusCode, &'static [&'static str]) {
        match self {
            Self::DiskFull => (StatusCode::INSUFFICIENT_STORAGE, &["INSUFFICIENT_STORAGE"]),
            Self::ReadOnly => (
                StatusCode::SERVICE_UNAVAILABLE,
                &["DATABASE_READ_ONLY", "STORAGE_ERROR"],
            ),
        }
    }

    /// What readiness's `checks.storage` may say while the fault lasts.
    pub(crate) fn storage_words(self) -> &'static [&'static str] {
        match self {
            Self::DiskFull => &["full"],
            Self::ReadOnly => &["read_only", "io_error"],
        }
    }

    /// Why `answer` is not a refusal this fault allows (a short reason, to group failures
    /// by), or `None` when it is one.
    pub(crate) fn not_a_refusal(self, answer: &Answer) -> Option<String> {
        let Some(status) = answer.status else {
            return Some("no answer".to_owned());
        };
        let code = answer.body["code"].as_str().unwrap_or("(no code)");
        let (refusal, codes) = self.refusal();
        if status != refusal {
            return Some(format!("{} {code}", status.as_u16()));
        }
        shape_problem(&answer.body, codes)
            .map(|problem| format!("{} {code}: {problem}", status.as_u16()))
    }
}

/// What became of one request of a lane.
#[derive(Debug, PartialEq)]
enum Outcome {
    Acknowledged,
    /// Refused as the fault allows.
    Refused,
    /// Against the contract (recorded as a finding).
    Broken,
}

/// What a request is, for what it may answer.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Write,
    Read,
    /// `GET /health`: 200 whatever happens.
    Liveness,
}

/// One client of the burst: its user, and the tasks and tags that it alone edits.
struct Lane {
    index: usize,
    user: User,
    tasks: Vec<i64>,
    tags: Vec<i64>,
    /// Numbers the titles and names this lane sends, so that each is sent once.
    sent: usize,
    auth: usize,
    fault: Fault,
    ledger: Ledger,
    /// The last answer, for the message when a write before the fault fails.
    last: String,
}

impl Lane {
    async fn send(
        &mut self,
        target: &Target,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let answer = target
            .send(method, path, Some(&self.user.access), body, REQUEST_TIMEOUT)
            .await;
        self.last = answer.describe();
        answer
    }

    fn next(&mut self) -> usize {
        self.sent += 1;
        self.sent
    }

    fn outcome(&mut self, what: &str, answer: &Answer, success: StatusCode, kind: Kind) -> Outcome {
        let status = status_of(answer);
        *self
            .ledger
            .tally
            .entry(format!("{what} {status}"))
            .or_default() += 1;
        if answer.status == Some(success) {
            return Outcome::Acknowledged;
        }
        let problem = self.fault.not_a_refusal(answer);
        let refusable =
            kind == Kind::Write || (kind == Kind::Read && self.fault == Fault::ReadOnly);
        if refusable && problem.is_none() {
            if kind == Kind::Write {
                self.ledger.refused_writes += 1;
            }
            return Outcome::Refused;
        }
        let code = answer.body["code"].as_str().unwrap_or("");
        let reason = problem.unwrap_or_else(|| format!("{status} {code}, but it must answer"));
        self.ledger
            .findings
            .add(format!("{what} answered {reason}"), answer.describe());
        Outcome::Broken
    }

    /// An acknowledged write answered `got` where `want` was due: recorded, and `got` is
    /// taken as the state from now on.
    fn answered_otherwise(&mut self, what: &str, want: &TaskState, got: Option<(i64, TaskState)>) {
        let instance = format!("wanted {want:?}, answered {got:?}");
        self.ledger.findings.add(
            format!("{what} answered 2xx with a task other than the write made"),
            instance,
        );
    }

    /// `POST …/tasks` with a 1,000-character description, and with two of the lane's tags when
    /// `tagged`.
    async fn create(&mut self, target: &Target, tagged: bool) -> Outcome {
        let n = self.next();
        let title = format!("lane {} task {n}", self.index);
        let tags: BTreeSet<i64> = if tagged {
            self.tags.iter().take(2).copied().collect()
        } else {
            BTreeSet::new()
        };
        let mut body = json!({"title": title, "description": description(&title)});
        if tagged {
            body["tag_ids"] = json!(tags);
        }
        let path = self.user.tasks_path();
        let answer = self.send(target, Method::POST, &path, Some(&body)).await;
        let what = if tagged {
            "POST …/tasks with tag_ids"
        } else {
            "POST …/tasks"
        };
        let outcome = self.outcome(what, &answer, StatusCode::CREATED, Kind::Write);
        let want = TaskState {
            user: user_key(&self.user.id),
            title,
            completed: false,
            tags,
        };
        match outcome {
            Outcome::Acknowledged => match task_state(&answer.body) {
                Some((id, got)) if got == want => {
                    self.ledger.created_task(id, want);
                    self.tasks.push(id);
                }
                got => self.answered_otherwise(what, &want, got),
            },
            Outcome::Refused => {
                self.ledger.refused_titles.insert(want.title);
            }
            Outcome::Broken => {}
        }
        outcome
    }

    /// `PATCH …/tasks/{id}` of a task of the lane's (`complete`: its `/complete`, a toggle;
    /// otherwise a new title and description).
    async fn edit(&mut self, target: &Target, complete: bool) -> Outcome {
        let n = self.next();
        let id = self.tasks[n % self.tasks.len()];
        let mut want = self.ledger.tasks[&id].clone();
        let (what, path, body) = if complete {
            want.completed = !want.completed;
            let path = format!("{}/{id}/complete", self.user.tasks_path());
            ("PATCH …/tasks/{id}/complete", path, None)
        } else {
            want.title = format!("lane {} edit {n}", self.index);
            let body = json!({"title": want.title, "description": description(&want.title)});
            let path = format!("{}/{id}", self.user.tasks_path());
            ("PATCH …/tasks/{id}", path, Some(body))
        };
        let answer = self.send(target, Method::PATCH, &path, body.as_ref()).await;
        let outcome = self.outcome(what, &answer, StatusCode::OK, Kind::Write);
        match outcome {
            Outcome::Acknowledged => match task_state(&answer.body) {
                Some((got_id, got)) if got_id == id && got == want => {
                    self.ledger.tasks.insert(id, want);
                }
                Some((got_id, got)) if got_id == id => {
                    self.answered_otherwise(what, &want, Some((got_id, got.clone())));
                    self.ledger.tasks.insert(id, got);
                }
                got => self.answered_otherwise(what, &want, got),
            },
            Outcome::Refused if !complete => {
                self.ledger.refused_titles.insert(want.title);
            }
            Outcome::Refused | Outcome::Broken => {}
        }
        outcome
    }

    /// `POST …/tags`, or (`rename`) `PATCH …/tags/{id}` of a tag of the lane's with a new name.
    async fn tag(&mut self, target: &Target, rename: bool) -> Outcome {
        let n = self.next();
        let tags = format!("/api/v1/users/{}/tags", self.user.id);
        let (what, method, path, success, id) = if rename {
            let id = self.tags[n % self.tags.len()];
            let path = format!("{tags}/{id}");
            (
                "PATCH …/tags/{id}",
                Method::PATCH,
                path,
                StatusCode::OK,
                Some(id),
            )
        } else {
            ("POST …/tags", Method::POST, tags, StatusCode::CREATED, None)
        };
        let name = format!("lane {} tag {n}", self.index);
        let body = json!({"name": name, "color": "#3366AA"});
        let answer = self.send(target, method, &path, Some(&body)).await;
        let outcome = self.outcome(what, &answer, success, Kind::Write);
        match outcome {
            Outcome::Acknowledged => {
                let want = TagState {
                    user: user_key(&self.user.id),
                    name,
                };
                match tag_state(&answer.body, &self.user.id) {
                    Some((got_id, got)) if got == want && id.is_none_or(|id| id == got_id) => {
                        if id.is_some() {
                            self.ledger.tags.insert(got_id, want);
                        } else {
                            self.ledger.created_tag(got_id, want);
                            self.tags.push(got_id);
                        }
                    }
                    got => self.ledger.findings.add(
                        format!("{what} answered 2xx with a tag other than the write made"),
                        format!("wanted {want:?}, answered {got:?}"),
                    ),
                }
            }
            Outcome::Refused => {
                self.ledger.refused_tag_names.insert(name);
            }
            Outcome::Broken => {}
        }
        outcome
    }

    /// `POST /api/v1/auth/register` of a new account, or (`sign_in`) `POST …/login` as the
    /// lane's user, which writes a session.
    async fn auth(&mut self, target: &Target, sign_in: bool) {
        let email = if sign_in {
            self.user.email.clone()
        } else {
            let n = self.next();
            format!("lane-{}-{n}@example.com", self.index)
        };
        let body = json!({"email": email, "password": PASSWORD});
        let (what, path, success) = if sign_in {
            (
                "POST /api/v1/auth/login",
                "/api/v1/auth/login",
                StatusCode::OK,
            )
        } else {
            (
                "POST /api/v1/auth/register",
                "/api/v1/auth/register",
                StatusCode::CREATED,
            )
        };
        let answer = target
            .send(Method::POST, path, None, Some(&body), REQUEST_TIMEOUT)
            .await;
        match self.outcome(what, &answer, success, Kind::Write) {
            Outcome::Acknowledged => {
                let token = answer.body["access_token"].as_str();
                let id = answer.body["id"].as_str();
                match (sign_in, token, id) {
                    (true, Some(token), _) => {
                        let session = (self.user.id.clone(), token.to_owned());
                        self.ledger.sessions.push(session);
                    }
                    (false, _, Some(id)) if answer.body["email"] == email.as_str() => {
                        self.ledger.accounts.push((email, id.to_owned()));
                    }
                    _ => self.ledger.findings.add(
                        format!("{what} answered 2xx without what it gives"),
                        answer.describe(),
                    ),
                }
            }
            Outcome::Refused if !sign_in => {
                self.ledger.refused_accounts.insert(email);
            }
            Outcome::Refused | Outcome::Broken => {}
        }
    }

    /// A read: a page of the lane's user's tasks, one of the lane's tasks, or liveness.
    async fn read(&mut self, target: &Target, n: usize) {
        match n % 3 {
            0 => {
                let path = format!("{}?status=all&limit=5", self.user.tasks_path());
                let answer = self.send(target, Method::GET, &path, None).await;
                self.outcome("GET …/tasks", &answer, StatusCode::OK, Kind::Read);
            }
            1 => {
                let id = self.tasks[n % self.tasks.len()];
                let path = format!("{}/{id}", self.user.tasks_path());
                let answer = self.send(target, Method::GET, &path, None).await;
                let what = "GET …/tasks/{id}";
                if self.outcome(what, &answer, StatusCode::OK, Kind::Read) == Outcome::Acknowledged
                    && answer.body["id"] != id
                {
                    let kind = format!("{what} answered another task");
                    self.ledger.findings.add(kind, answer.describe());
                }
            }
            _ => {
                let answer = self.send(target, Method::GET, "/health", None).await;
                self.outcome("GET /health", &answer, StatusCode::OK, Kind::Liveness);
            }
        }
    }

    /// Sends one request after another for `lasting` (at most [`MAX_REQUESTS_PER_LANE`]):
    /// three plain creates in ten, a create with tags, a task edit, a toggle, a tag create, a
    /// tag rename, a read, and a sign-up or sign-in, alternately, spread over the burst (a
    /// read in its place in between, and once [`MAX_AUTH_PER_LANE`] are sent).
    async fn run(&mut self, target: &Target, lasting: Duration) {
        let start = Instant::now();
        let auth_every = lasting / MAX_AUTH_PER_LANE as u32;
        for n in 0..MAX_REQUESTS_PER_LANE {
            if start.elapsed() >= lasting {
                break;
            }
            match n % 10 {
                0 | 3 | 7 => {
                    self.create(target, false).await;
                }
                1 => {
                    self.create(target, true).await;
                }
                2 => {
                    self.edit(target, false).await;
                }
                4 => {
                    self.edit(target, true).await;
                }
                5 => {
                    self.tag(target, false).await;
                }
                6 => {
                    self.tag(target, true).await;
                }
                9 if self.auth < MAX_AUTH_PER_LANE
                    && start.elapsed() >= auth_every * self.auth as u32 =>
                {
                    self.auth += 1;
                    self.auth(target, self.auth.is_multiple_of(2)).await;
                }
                _ => self.read(target, n / 10).await,
            }
        }
    }

    /// Fails the test unless a write before the fault was acknowledged.
    fn must(&self, outcome: Outcome, what: &str) {
        assert_eq!(
            outcome,
            Outcome::Acknowledged,
            "before the fault, {what}: {}",
            self.last
        );
    }
}

/// What exists before the fault: [`USERS`] signed-in users, and for each of [`LANES`] clients
/// two tags and three tasks of its own (one of them tagged) to edit.
pub struct Fixture {
    users: Vec<User>,
    lanes: Vec<Lane>,
}

impl Fixture {
    pub async fn prepare(target: &Target) -> Self {
        let mut users = Vec::new();
        for _ in 0..USERS {
            users.push(User::sign_up(&target.http, &target.base).await);
        }
        let mut lanes = Vec::new();
        for index in 0..LANES {
            let mut lane = Lane {
                index,
                user: users[index % USERS].clone(),
                tasks: Vec::new(),
                tags: Vec::new(),
                sent: 0,
                auth: 0,
                fault: Fault::DiskFull,
                ledger: Ledger::default(),
                last: String::new(),
            };
            for _ in 0..2 {
                let outcome = lane.tag(target, false).await;
                lane.must(outcome, "creating a tag");
            }
            for tagged in [false, false, true] {
                let outcome = lane.create(target, tagged).await;
                lane.must(outcome, "creating a task");
            }
            lanes.push(lane);
        }
        Self { users, lanes }
    }
}

/// The real binary serving `todo.db` on the filesystem mounted at `disk` (its log in `dir`,
/// off that disk), and the fixture prepared on it: the service, the file and the fixture.
pub async fn sqlite_service_on(dir: &Path, disk: &Path) -> (Service, PathBuf, Fixture) {
    let database = disk.join("todo.db");
    let service = Service::start("first", dir, &database).await;
    let fixture = Fixture::prepare(&service.target()).await;
    (service, database, fixture)
}

/// Sends the burst: [`LANES`] clients at once, each for `lasting` (and at most
/// [`MAX_REQUESTS_PER_LANE`] requests), and returns the ledger of their answers.
pub async fn burst(target: &Target, fault: Fault, fixture: Fixture, lasting: Duration) -> Ledger {
    let lanes = fixture.lanes.into_iter().map(|mut lane| {
        let target = target.clone();
        lane.fault = fault;
        tokio::spawn(async move {
            lane.run(&target, lasting).await;
            lane
        })
    });
    let mut ledger = Ledger {
        users: fixture.users,
        ..Ledger::default()
    };
    for lane in join_all(lanes).await {
        ledger.merge(lane.expect("a client of the burst").ledger);
    }
    eprintln!("the burst ({fault:?}): {}", ledger.tally_line());
    ledger.expect_refusals(fault);
    ledger
}

/// The disk-full scenario both backends share, up to the restart. With `filler` leaving the
/// database's disk a little space: the burst; readiness (503, `checks.storage` "full"), reads
/// and liveness while the disk is full. Then `filler` deleted: a create that must succeed at
/// once, readiness 200 again, and every acknowledged write there through the API.
pub async fn disk_full_then_freed(target: &Target, fixture: Fixture, filler: &Filler) -> Ledger {
    let mut ledger = burst(target, Fault::DiskFull, fixture, DISK_FULL_BURST).await;
    ledger
        .expect_not_ready(target, Fault::DiskFull, "while the disk is full")
        .await;
    ledger.expect_reads_answer(target).await;

    filler.remove();
    ledger
        .create_must_succeed(target, "the first write once space is back")
        .await;
    ledger
        .expect_ready(target, "once space is back and a write succeeded")
        .await;
    ledger
        .verify_via_api(target, Fault::DiskFull, "once space is back")
        .await;
    ledger
}
