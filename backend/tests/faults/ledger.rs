//! The ledger of a burst's answers, and the checks of the storage-fault contract (issue 27)
//! against it: each answer's shape, each acknowledged write against what the API and the file
//! hold afterwards, readiness, and the log.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::Duration,
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Row};
use tokio::time::Instant;

use crate::{
    support::{Answer, PASSWORD, Target, User, open_sqlite},
    write_burst::{Fault, INTERNAL_TEXT, READINESS_WITHIN, REQUEST_TIMEOUT},
};

/// What is wrong with an error body that must carry one of `codes`, or `None`.
pub(crate) fn shape_problem(body: &Value, codes: &[&str]) -> Option<String> {
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

    pub(crate) fn merge(&mut self, other: Findings) {
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
pub(crate) struct TaskState {
    /// The owner's id, as 32 lowercase hex digits (as SQLite's `hex()` gives it, lowered).
    pub(crate) user: String,
    pub(crate) title: String,
    pub(crate) completed: bool,
    pub(crate) tags: BTreeSet<i64>,
}

/// A tag as a write left it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TagState {
    pub(crate) user: String,
    pub(crate) name: String,
}

pub(crate) fn user_key(id: &str) -> String {
    id.replace('-', "").to_lowercase()
}

/// A task as the API shows it.
pub(crate) fn task_state(task: &Value) -> Option<(i64, TaskState)> {
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
pub(crate) fn tag_state(tag: &Value, user: &str) -> Option<(i64, TagState)> {
    let state = TagState {
        user: user_key(user),
        name: tag["name"].as_str()?.to_owned(),
    };
    Some((tag["id"].as_i64()?, state))
}

/// A description of 1,000 characters, the most a task takes.
pub(crate) fn description(title: &str) -> String {
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
    pub(crate) users: Vec<User>,
    pub(crate) tasks: BTreeMap<i64, TaskState>,
    pub(crate) tags: BTreeMap<i64, TagState>,
    /// Titles and tag names sent in writes that were refused: none may be stored.
    pub(crate) refused_titles: BTreeSet<String>,
    pub(crate) refused_tag_names: BTreeSet<String>,
    /// Sign-ups acknowledged (email and id) and refused (email).
    pub(crate) accounts: Vec<(String, String)>,
    pub(crate) refused_accounts: BTreeSet<String>,
    /// Access tokens from acknowledged sign-ins, with their user's id.
    pub(crate) sessions: Vec<(String, String)>,
    /// Answers, counted by request and status.
    pub(crate) tally: BTreeMap<String, usize>,
    /// Writes refused as the fault allows.
    pub(crate) refused_writes: usize,
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

    pub(crate) fn created_task(&mut self, id: i64, state: TaskState) {
        record_created(&mut self.findings, "task", &mut self.tasks, id, state);
    }

    pub(crate) fn created_tag(&mut self, id: i64, state: TagState) {
        record_created(&mut self.findings, "tag", &mut self.tags, id, state);
    }

    /// Takes in a lane's ledger: an id acknowledged by two lanes was answered twice.
    pub(crate) fn merge(&mut self, lane: Ledger) {
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

    pub(crate) fn tally_line(&self) -> String {
        let counts: Vec<String> = self
            .tally
            .iter()
            .map(|(what, count)| format!("{what}: {count}"))
            .collect();
        counts.join(", ")
    }

    /// Records that `answer` was expected to be `success` (`kind` names the request and the
    /// moment, for the finding).
    pub(crate) fn expect(&mut self, answer: &Answer, success: StatusCode, kind: &str) -> bool {
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
    pub(crate) fn expect_refusals(&mut self, fault: Fault) {
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
    pub(crate) async fn expect_ready(&mut self, target: &Target, when: &str) {
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
    pub(crate) async fn expect_reads_answer(&mut self, target: &Target) {
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
    pub(crate) async fn create_must_succeed(&mut self, target: &Target, title: &str) {
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

    pub(crate) fn compare(&mut self, seen: &Seen, when: &str) {
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
pub(crate) trait Named: PartialEq + std::fmt::Debug {
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
pub(crate) fn record_created<S: Named>(
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
pub(crate) fn compare_objects<S: Named>(
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
pub(crate) fn not_ready_problem(answer: &Answer, fault: Fault) -> Option<String> {
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
pub(crate) struct Seen {
    pub(crate) tasks: BTreeMap<i64, TaskState>,
    pub(crate) tags: BTreeMap<i64, TagState>,
    /// Every account's email, when known.
    pub(crate) emails: Option<BTreeSet<String>>,
}

/// Every task of `user` through the API, or the answer that failed.
pub(crate) async fn all_tasks(target: &Target, user: &User) -> Result<Vec<Value>, Answer> {
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
pub(crate) fn status_of(answer: &Answer) -> String {
    answer.status.map_or_else(
        || "no answer".to_owned(),
        |status| status.as_u16().to_string(),
    )
}

/// `GET path` (as `token`'s bearer when given), waiting at most [`REQUEST_TIMEOUT`].
pub(crate) async fn get(target: &Target, path: &str, token: Option<&str>) -> Answer {
    target
        .send(Method::GET, path, token, None, REQUEST_TIMEOUT)
        .await
}
