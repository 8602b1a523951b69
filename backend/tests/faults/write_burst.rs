//! A burst of writes of every kind, from several clients at once, against a service whose
//! storage fails under it; the ledger of every answer; and the checks of the storage-fault
//! contract (issue 27):
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
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use tokio::time::Instant;

use crate::{
    mounts::Filler,
    support::{Answer, PASSWORD, Service, Target, User, open_sqlite},
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
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long readiness has to come to say what it must.
const READINESS_WITHIN: Duration = Duration::from_secs(3);
/// Text that would show an internal error's message in a `detail`.
const INTERNAL_TEXT: [&str; 6] = [
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
    fn refusal(self) -> (StatusCode, &'static [&'static str]) {
        match self {
            Self::DiskFull => (StatusCode::INSUFFICIENT_STORAGE, &["INSUFFICIENT_STORAGE"]),
            Self::ReadOnly => (
                StatusCode::SERVICE_UNAVAILABLE,
                &["DATABASE_READ_ONLY", "STORAGE_ERROR"],
            ),
        }
    }

    /// What readiness's `checks.storage` may say while the fault lasts.
    fn storage_words(self) -> &'static [&'static str] {
        match self {
            Self::DiskFull => &["full"],
            Self::ReadOnly => &["read_only", "io_error"],
        }
    }

    /// Why `answer` is not a refusal this fault allows (a short reason, to group failures
    /// by), or `None` when it is one.
    fn not_a_refusal(self, answer: &Answer) -> Option<String> {
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

/// What is wrong with an error body that must carry one of `codes`, or `None`.
fn shape_problem(body: &Value, codes: &[&str]) -> Option<String> {
    let code = body["code"].as_str();
    if !code.is_some_and(|code| codes.contains(&code)) {
        return Some(format!("its code is {code:?}, not one of {codes:?}"));
    }
    let Some(detail) = body["detail"].as_str().filter(|d| !d.trim().is_empty()) else {
        return Some("it has no detail".to_owned());
    };
    if let Some(text) = INTERNAL_TEXT.iter().find(|text| detail.contains(*text)) {
        return Some(format!("its detail shows internal text ({text:?})"));
    }
    if body.get("field").is_some() {
        return Some("it names a field".to_owned());
    }
    if body["request_id"].as_str().is_none_or(str::is_empty) {
        return Some("it has no request_id".to_owned());
    }
    None
}

/// Every way the service broke the contract: each kind of failure, how often, and its first
/// instance.
#[derive(Default)]
pub struct Findings(BTreeMap<String, (usize, String)>);

impl Findings {
    pub fn add(&mut self, kind: impl Into<String>, instance: impl Into<String>) {
        let instance = instance.into();
        self.0.entry(kind.into()).or_insert((0, instance)).0 += 1;
    }

    fn merge(&mut self, other: Findings) {
        for (kind, (count, instance)) in other.0 {
            self.0.entry(kind).or_insert((0, instance)).0 += count;
        }
    }

    /// Fails the test with every finding, when there is one.
    pub fn assert_none(&self, test: &str) {
        let report: Vec<String> = self
            .0
            .iter()
            .map(|(kind, (count, first))| format!("- {kind} ({count}×), e.g. {first}"))
            .collect();
        assert!(
            report.is_empty(),
            "{test}: the storage-fault contract is broken:\n{}",
            report.join("\n")
        );
    }
}

/// A task as a write left it.
#[derive(Clone, Debug, PartialEq)]
struct TaskState {
    /// The owner's id, as 32 lowercase hex digits (as SQLite's `hex()` gives it, lowered).
    user: String,
    title: String,
    completed: bool,
    tags: BTreeSet<i64>,
}

/// A tag as a write left it.
#[derive(Clone, Debug, PartialEq)]
struct TagState {
    user: String,
    name: String,
}

fn user_key(id: &str) -> String {
    id.replace('-', "").to_lowercase()
}

/// A task as the API shows it.
fn task_state(task: &Value) -> Option<(i64, TaskState)> {
    let tags = task["tags"].as_array()?;
    let state = TaskState {
        user: user_key(task["user_id"].as_str()?),
        title: task["title"].as_str()?.to_owned(),
        completed: task["completed"].as_bool()?,
        tags: tags.iter().filter_map(|tag| tag["id"].as_i64()).collect(),
    };
    Some((task["id"].as_i64()?, state))
}

/// A tag as the API shows it, for the user `user`.
fn tag_state(tag: &Value, user: &str) -> Option<(i64, TagState)> {
    let state = TagState {
        user: user_key(user),
        name: tag["name"].as_str()?.to_owned(),
    };
    Some((tag["id"].as_i64()?, state))
}

/// A description of 1,000 characters, the most a task takes.
fn description(title: &str) -> String {
    let mut text = format!("{title}: ");
    while text.len() < 1000 {
        text.push_str("all work and no play makes a full disk. ");
    }
    text.truncate(1000);
    text
}

/// What the service acknowledged (the state each acknowledged write left), what it refused,
/// and how it broke the contract.
#[derive(Default)]
pub struct Ledger {
    /// The users who own the tasks and tags.
    users: Vec<User>,
    tasks: BTreeMap<i64, TaskState>,
    tags: BTreeMap<i64, TagState>,
    /// Titles and tag names sent in writes that were refused: none may be stored.
    refused_titles: BTreeSet<String>,
    refused_tag_names: BTreeSet<String>,
    /// Sign-ups acknowledged (email and id) and refused (email).
    accounts: Vec<(String, String)>,
    refused_accounts: BTreeSet<String>,
    /// Access tokens from acknowledged sign-ins, with their user's id.
    sessions: Vec<(String, String)>,
    /// Answers, counted by request and status.
    tally: BTreeMap<String, usize>,
    /// Writes refused as the fault allows.
    refused_writes: usize,
    pub findings: Findings,
}

impl Ledger {
    /// Checks that the service's log told of the storage fault once per episode, not once per
    /// refused request: every episode's first line, and at most one more line per episode
    /// when it ended (the next write that succeeded).
    pub fn expect_logged_once_per_episode(&mut self, log: &str) {
        let opened = log.matches("the database's storage refuses writes").count();
        let closed = log
            .matches("the database's storage accepts writes again")
            .count();
        let refused = self.refused_writes;
        if opened == 0 || opened > closed + 1 || opened * 20 > refused.max(1) {
            self.findings.add(
                "the log does not tell of the storage fault once per episode",
                format!("{opened} episode(s) opened, {closed} closed, {refused} writes refused"),
            );
        }
    }

    fn created_task(&mut self, id: i64, state: TaskState) {
        record_created(&mut self.findings, "task", &mut self.tasks, id, state);
    }

    fn created_tag(&mut self, id: i64, state: TagState) {
        record_created(&mut self.findings, "tag", &mut self.tags, id, state);
    }

    /// Takes in a lane's ledger: an id acknowledged by two lanes was answered twice.
    fn merge(&mut self, lane: Ledger) {
        for (id, state) in lane.tasks {
            self.created_task(id, state);
        }
        for (id, state) in lane.tags {
            self.created_tag(id, state);
        }
        self.refused_titles.extend(lane.refused_titles);
        self.refused_tag_names.extend(lane.refused_tag_names);
        self.accounts.extend(lane.accounts);
        self.refused_accounts.extend(lane.refused_accounts);
        self.sessions.extend(lane.sessions);
        for (what, count) in lane.tally {
            *self.tally.entry(what).or_default() += count;
        }
        self.refused_writes += lane.refused_writes;
        self.findings.merge(lane.findings);
    }

    fn tally_line(&self) -> String {
        let counts: Vec<String> = self
            .tally
            .iter()
            .map(|(what, count)| format!("{what}: {count}"))
            .collect();
        counts.join(", ")
    }

    /// Records that `answer` was expected to be `success` (`kind` names the request and the
    /// moment, for the finding).
    fn expect(&mut self, answer: &Answer, success: StatusCode, kind: &str) -> bool {
        let ok = answer.status == Some(success);
        if !ok {
            let code = answer.body["code"].as_str().unwrap_or("");
            self.findings.add(
                format!(
                    "{kind} answered {} {code}, not {}",
                    status_of(answer),
                    success.as_u16()
                ),
                answer.describe(),
            );
        }
        ok
    }

    /// At least one write was refused as the fault allows: the fault really happened.
    fn expect_refusals(&mut self, fault: Fault) {
        if self.refused_writes == 0 {
            let (status, codes) = fault.refusal();
            self.findings.add(
                format!(
                    "no write was refused with {} {codes:?} (the fault never showed, or was \
                     answered otherwise)",
                    status.as_u16()
                ),
                self.tally_line(),
            );
        }
    }

    /// Readiness comes to answer 503 in the error shape, `SERVICE_UNAVAILABLE`, with
    /// `checks.storage` one of the fault's words (within [`READINESS_WITHIN`]).
    pub async fn expect_not_ready(&mut self, target: &Target, fault: Fault, when: &str) {
        let deadline = Instant::now() + READINESS_WITHIN;
        loop {
            let answer = get(target, "/health/ready", None).await;
            let Some(problem) = not_ready_problem(&answer, fault) else {
                return;
            };
            if Instant::now() >= deadline {
                self.findings
                    .add(format!("readiness {when}: {problem}"), answer.describe());
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Readiness comes to answer 200 `{"status":"ok"}` (within [`READINESS_WITHIN`]).
    async fn expect_ready(&mut self, target: &Target, when: &str) {
        let deadline = Instant::now() + READINESS_WITHIN;
        loop {
            let answer = get(target, "/health/ready", None).await;
            if answer.status == Some(StatusCode::OK) && answer.body == json!({"status": "ok"}) {
                return;
            }
            if Instant::now() >= deadline {
                self.findings.add(
                    format!("readiness {when} is not 200 {{\"status\":\"ok\"}}"),
                    answer.describe(),
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Liveness answers 200 `{"status":"ok"}`.
    pub async fn expect_alive(&mut self, target: &Target, when: &str) {
        let answer = get(target, "/health", None).await;
        if self.expect(&answer, StatusCode::OK, &format!("GET /health {when}"))
            && answer.body != json!({"status": "ok"})
        {
            self.findings
                .add(format!("GET /health {when} answered"), answer.describe());
        }
    }

    /// While the disk is full: a listing and a task answer 200, and so does liveness.
    async fn expect_reads_answer(&mut self, target: &Target) {
        let when = "while the disk is full";
        let user = self.users[0].clone();
        let path = format!("{}?status=all&limit=5", user.tasks_path());
        let answer = get(target, &path, Some(&user.access)).await;
        self.expect(&answer, StatusCode::OK, &format!("GET …/tasks {when}"));
        let owner = user_key(&user.id);
        if let Some(id) = self
            .tasks
            .iter()
            .find(|(_, t)| t.user == owner)
            .map(|t| *t.0)
        {
            let path = format!("{}/{id}", user.tasks_path());
            let answer = get(target, &path, Some(&user.access)).await;
            self.expect(
                &answer,
                StatusCode::OK,
                &format!("GET …/tasks/{{id}} {when}"),
            );
        }
        self.expect_alive(target, when).await;
    }

    /// A create that must succeed (once space is back): 201, and it is recorded.
    async fn create_must_succeed(&mut self, target: &Target, title: &str) {
        let user = self.users[0].clone();
        let body = json!({"title": title, "description": description(title)});
        let answer = target
            .send(
                Method::POST,
                &user.tasks_path(),
                Some(&user.access),
                Some(&body),
                REQUEST_TIMEOUT,
            )
            .await;
        if self.expect(&answer, StatusCode::CREATED, &format!("creating {title:?}"))
            && let Some((id, state)) = task_state(&answer.body)
        {
            self.created_task(id, state);
        }
    }

    /// Everything acknowledged is there through the API of the service at `target`, as the
    /// last acknowledged write left it; nothing refused is; every acknowledged sign-up can sign
    /// in (a refusal the fault allows will do: signing in writes a session) and every
    /// acknowledged sign-in's token is accepted.
    pub async fn verify_via_api(&mut self, target: &Target, fault: Fault, when: &str) {
        let mut seen = Seen::default();
        for user in self.users.clone() {
            match all_tasks(target, &user).await {
                Ok(tasks) => seen.tasks.extend(tasks.iter().filter_map(task_state)),
                Err(answer) => {
                    self.expect(&answer, StatusCode::OK, &format!("listing tasks {when}"));
                    return;
                }
            }
            let path = format!("/api/v1/users/{}/tags", user.id);
            let answer = get(target, &path, Some(&user.access)).await;
            if !self.expect(&answer, StatusCode::OK, &format!("listing tags {when}")) {
                return;
            }
            let tags = answer.body.as_array().cloned().unwrap_or_default();
            seen.tags
                .extend(tags.iter().filter_map(|tag| tag_state(tag, &user.id)));
        }
        self.compare(&seen, when);

        for (email, _) in self.accounts.clone() {
            let body = json!({"email": email, "password": PASSWORD});
            let answer = target
                .send(
                    Method::POST,
                    "/api/v1/auth/login",
                    None,
                    Some(&body),
                    REQUEST_TIMEOUT,
                )
                .await;
            if answer.status != Some(StatusCode::OK) && fault.not_a_refusal(&answer).is_some() {
                self.findings.add(
                    format!("an acknowledged sign-up cannot sign in {when}"),
                    format!("{email}: {}", answer.describe()),
                );
            }
        }
        for (user_id, token) in self.sessions.clone() {
            let answer = get(target, "/api/v1/auth/me", Some(&token)).await;
            if answer.status != Some(StatusCode::OK) || answer.body["id"] != user_id.as_str() {
                self.findings.add(
                    format!("an acknowledged sign-in's token is refused {when}"),
                    answer.describe(),
                );
            }
        }
    }

    /// Everything acknowledged is in the SQLite file `file`, read directly, as the last
    /// acknowledged write left it; nothing refused is.
    pub async fn verify_sqlite_file(&mut self, file: &Path, when: &str) {
        let mut conn = open_sqlite(file).await;
        let mut seen = Seen::default();
        let tasks = "SELECT id, lower(hex(user_id)), title, completed FROM tasks";
        for row in sqlx::query(tasks).fetch_all(&mut conn).await.unwrap() {
            let state = TaskState {
                user: row.get(1),
                title: row.get(2),
                completed: row.get::<i64, _>(3) != 0,
                tags: BTreeSet::new(),
            };
            seen.tasks.insert(row.get(0), state);
        }
        let links = "SELECT task_id, tag_id FROM task_tags";
        for row in sqlx::query(links).fetch_all(&mut conn).await.unwrap() {
            if let Some(task) = seen.tasks.get_mut(&row.get::<i64, _>(0)) {
                task.tags.insert(row.get(1));
            }
        }
        let tags = "SELECT id, lower(hex(user_id)), name FROM tags";
        for row in sqlx::query(tags).fetch_all(&mut conn).await.unwrap() {
            let state = TagState {
                user: row.get(1),
                name: row.get(2),
            };
            seen.tags.insert(row.get(0), state);
        }
        let emails = sqlx::query_scalar("SELECT email FROM users")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        seen.emails = Some(emails.into_iter().collect());
        conn.close().await.unwrap();
        self.compare(&seen, when);
    }

    fn compare(&mut self, seen: &Seen, when: &str) {
        let findings = &mut self.findings;
        let (acknowledged, refused) = (&self.tasks, &self.refused_titles);
        compare_objects(findings, "task", when, acknowledged, &seen.tasks, refused);
        let (acknowledged, refused) = (&self.tags, &self.refused_tag_names);
        compare_objects(findings, "tag", when, acknowledged, &seen.tags, refused);
        if let Some(emails) = &seen.emails {
            for (email, _) in &self.accounts {
                if !emails.contains(email) {
                    self.findings
                        .add(format!("an acknowledged sign-up is missing {when}"), email);
                }
            }
            for email in &self.refused_accounts {
                if emails.contains(email) {
                    self.findings
                        .add(format!("a refused sign-up exists {when}"), email);
                }
            }
        }
    }
}

/// A task or a tag, by the name a write gave it.
trait Named: PartialEq + std::fmt::Debug {
    fn name(&self) -> &str;
}

impl Named for TaskState {
    fn name(&self) -> &str {
        &self.title
    }
}

impl Named for TagState {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Records the acknowledged create of a `noun` (a task or a tag) in `objects`; its id answered
/// before is a finding.
fn record_created<S: Named>(
    findings: &mut Findings,
    noun: &str,
    objects: &mut BTreeMap<i64, S>,
    id: i64,
    state: S,
) {
    let name = state.name().to_owned();
    if let Some(earlier) = objects.insert(id, state) {
        findings.add(
            format!("one {noun} id answered for two creates"),
            format!("{noun} {id}: {:?}, then {name:?}", earlier.name()),
        );
    }
}

/// Compares the `noun`s (tasks or tags) acknowledged with those `seen`: each must be there as
/// its last acknowledged write left it, and nothing else may be (`refused` holds the names
/// sent in refused writes, to say so when one of them is what is there).
fn compare_objects<S: Named>(
    findings: &mut Findings,
    noun: &str,
    when: &str,
    acknowledged: &BTreeMap<i64, S>,
    seen: &BTreeMap<i64, S>,
    refused: &BTreeSet<String>,
) {
    for (id, want) in acknowledged {
        match seen.get(id) {
            None => findings.add(
                format!("an acknowledged {noun} is missing {when}"),
                format!("{noun} {id} {:?}", want.name()),
            ),
            Some(got) if got != want => {
                let note = if refused.contains(got.name()) {
                    " (as a refused write left it)"
                } else {
                    ""
                };
                findings.add(
                    format!("a {noun} is not as its last acknowledged write left it {when}{note}"),
                    format!("{noun} {id}: acknowledged {want:?}, found {got:?}"),
                );
            }
            Some(_) => {}
        }
    }
    for (id, got) in seen {
        if !acknowledged.contains_key(id) {
            let kind = if refused.contains(got.name()) {
                "whose create was refused exists"
            } else {
                "exists that no 2xx answer created"
            };
            findings.add(
                format!("a {noun} {kind} {when}"),
                format!("{noun} {id} {:?}", got.name()),
            );
        }
    }
}

/// What is wrong with a readiness answer while `fault` lasts, or `None`.
fn not_ready_problem(answer: &Answer, fault: Fault) -> Option<String> {
    if answer.status != Some(StatusCode::SERVICE_UNAVAILABLE) {
        return Some(format!("answered {}, not 503", status_of(answer)));
    }
    if let Some(problem) = shape_problem(&answer.body, &["SERVICE_UNAVAILABLE"]) {
        return Some(format!("503, but {problem}"));
    }
    let checks = &answer.body["checks"];
    if !checks.is_object() {
        return Some("503 without a \"checks\" object".to_owned());
    }
    let words = fault.storage_words();
    let storage = checks["storage"].as_str();
    if !storage.is_some_and(|storage| words.contains(&storage)) {
        return Some(format!(
            "checks.storage is {storage:?}, not one of {words:?}"
        ));
    }
    ["database", "migrations"]
        .into_iter()
        .find(|member| !checks[*member].is_string())
        .map(|member| format!("checks.{member} is not a word"))
}

/// What a listing, or the file, holds.
#[derive(Default)]
struct Seen {
    tasks: BTreeMap<i64, TaskState>,
    tags: BTreeMap<i64, TagState>,
    /// Every account's email, when known.
    emails: Option<BTreeSet<String>>,
}

/// Every task of `user` through the API, or the answer that failed.
async fn all_tasks(target: &Target, user: &User) -> Result<Vec<Value>, Answer> {
    let mut tasks = Vec::new();
    for page in 1..=100 {
        let path = format!("{}?status=all&limit=100&page={page}", user.tasks_path());
        let answer = get(target, &path, Some(&user.access)).await;
        if answer.status != Some(StatusCode::OK) {
            return Err(answer);
        }
        tasks.extend(answer.body["items"].as_array().cloned().unwrap_or_default());
        if page >= answer.body["pages"].as_u64().unwrap_or(0) {
            break;
        }
    }
    Ok(tasks)
}

/// An answer's status as a number, or "no answer".
fn status_of(answer: &Answer) -> String {
    answer.status.map_or_else(
        || "no answer".to_owned(),
        |status| status.as_u16().to_string(),
    )
}

/// `GET path` (as `token`'s bearer when given), waiting at most [`REQUEST_TIMEOUT`].
async fn get(target: &Target, path: &str, token: Option<&str>) -> Answer {
    target
        .send(Method::GET, path, token, None, REQUEST_TIMEOUT)
        .await
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
