//! `/openapi.json`, Swagger UI at `/docs` and ReDoc at `/redoc`, all served from the binary.

use std::sync::LazyLock;

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{
        Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
    },
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{
    core::error::{ErrorBody, ErrorCode},
    routers::state::AppState,
    routers::{auth, categories, changes, events, health, reminders, tags, tasks, users},
    schemas::{
        events::{DeletedId, ResyncData},
        rules,
    },
};

/// The ReDoc 2.x standalone bundle (MIT, see `backend/static/redoc/LICENSE`).
static REDOC_JS: &str = include_str!("../../static/redoc/redoc.standalone.js");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "todo-api",
        description = include_str!("openapi_description.md"),
        license(name = "MIT"),
    ),
    paths(
        auth::register, auth::login, auth::refresh, auth::logout, auth::me,
        users::get_profile, users::update_profile, users::change_password, users::delete_account,
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::replace_task,
        tasks::update_task, tasks::toggle_task, tasks::delete_task, tasks::move_task,
        tasks::reorder_tasks, tasks::list_occurrences, tasks::skip_task, tasks::stop_recurring,
        tasks::link_tag,
        tasks::unlink_tag, reminders::list_reminders, events::events, changes::list_changes,
        tags::create_tag, tags::list_tags, tags::get_tag, tags::replace_tag, tags::update_tag,
        tags::delete_tag,
        categories::list_categories, categories::list_statuses, categories::create_status,
        categories::get_status, categories::update_status, categories::delete_status,
        categories::list_priorities, categories::create_priority, categories::get_priority,
        categories::update_priority, categories::delete_priority,
        health::health, health::ready,
    ),
    components(schemas(ErrorBody, ErrorCode, DeletedId, ResyncData)),
    modifiers(&SecuritySchemes, &CommonResponses, &RequestRules),
    tags(
        (name = "auth", description = "Sign-up, sign-in and sessions."),
        (name = "users", description = "The caller's own account."),
        (name = "tasks", description = "The caller's tasks: create, list with filters and sorting, update, complete, tag."),
        (name = "tags", description = "The caller's tags."),
        (name = "statuses and priorities", description = "The caller's own statuses (each open or done) and priorities, which tasks refer to by name."),
        (name = "events", description = "The caller's live event stream (Server-Sent Events), resumable with `Last-Event-ID`."),
        (name = "sync", description = "Delta sync: the caller's changes since a cursor."),
        (name = "health", description = "Liveness and readiness."),
    )
)]
pub struct ApiDoc;

/// Bearer tokens, and the OAuth2 password flow against the login route so that "Authorize" in
/// Swagger UI signs in with an email and password.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An access token from /api/v1/auth/login."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new(
                    "/api/v1/auth/login",
                    Scopes::new(),
                ))],
                "Sign in with your email as the username.",
            )),
        );
    }
}

/// Adds to every operation what many share, so that no annotation repeats it. Under
/// `/users/{user_id}` (every such route takes [`UserScope`](super::extract::UserScope)): bearer
/// security and the path ids, ahead of any declared parameter. The answers any route can give: 401 where a token is required, 403 under `/users/{user_id}`, 413/415/422
/// where a body is read, 422 for malformed path ids, 414, 431, 500 and 503 everywhere, and the
/// `X-Request-Id` header on every response.
struct CommonResponses;

impl Modify for CommonResponses {
    // Longer than 60 lines on purpose: a table of what every operation shares, one entry each,
    // which reads best in one place.
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            Ref, RefOr, Required,
            content::Content,
            header::Header,
            path::{ParameterBuilder, ParameterIn},
            response::ResponseBuilder,
            schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type},
            security::SecurityRequirement,
        };

        let error = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        };
        let request_id = Header::new(ObjectBuilder::new().schema_type(Type::String));

        let uuid = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
            .build();
        let path_ids = [
            ("user_id", "Must be the caller's own id.", uuid),
            ("task_id", "The task's id.", rules::id()),
            ("tag_id", "The tag's id.", rules::id()),
            ("status_id", "The status's id.", rules::id()),
            ("priority_id", "The priority's id.", rules::id()),
        ]
        .map(|(name, description, schema)| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .description(Some(description))
                .required(Required::True)
                .schema(Some(schema))
                .build()
        });

        for (path, item) in openapi.paths.paths.iter_mut() {
            let under_user = path.contains("{user_id}");
            // Each operation, and whether it may write.
            let operations = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            let operations = operations
                .into_iter()
                .filter_map(|(operation, writes)| Some((operation.as_mut()?, writes)));
            for (operation, writes) in operations {
                if under_user {
                    let declared = operation.parameters.take().unwrap_or_default();
                    let ids = path_ids
                        .iter()
                        .filter(|id| path.contains(&format!("{{{}}}", id.name)));
                    operation.parameters = Some(ids.cloned().chain(declared).collect());
                    operation.security = Some(
                        ["bearer", "oauth2"]
                            .map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()))
                            .into(),
                    );
                }
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description));
                };
                if operation.request_body.is_some() {
                    add("413", "`PAYLOAD_TOO_LARGE`: the body is over 64 KiB.");
                    add("415", "`UNSUPPORTED_MEDIA_TYPE`: the body is not JSON.");
                    add(
                        "422",
                        "`VALIDATION_ERROR`: malformed JSON, wrong types, missing or unknown fields; `field` names the culprit.",
                    );
                }
                if operation.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(
                        "422",
                        "`VALIDATION_ERROR`: a path id or query parameter is malformed.",
                    );
                }
                if operation.security.is_some() {
                    add(
                        "401",
                        "`MISSING_TOKEN`, `INVALID_TOKEN`, `TOKEN_EXPIRED`, `INVALID_TOKEN_TYPE`, `TOKEN_REVOKED`; with `WWW-Authenticate: Bearer`.",
                    );
                }
                if under_user {
                    add(
                        "403",
                        "`FORBIDDEN`: `{user_id}` is not the caller (checked before anything is read).",
                    );
                }
                add("414", "`URI_TOO_LONG`: the URL is over 8 KiB.");
                add(
                    "431",
                    "`HEADERS_TOO_LARGE`: over 100 header fields or 16 KiB of headers.",
                );
                add("500", "`INTERNAL_ERROR`.");
                if writes {
                    add(
                        "503",
                        "`SERVICE_UNAVAILABLE`: the database is unreachable or the request timed out; `DATABASE_READ_ONLY`: the database accepts no changes (a read-only disk or replica); `STORAGE_ERROR`: the database's storage failed (I/O error, damage). Nothing was changed.",
                    );
                    add(
                        "507",
                        "`INSUFFICIENT_STORAGE`: the server's disk is full; nothing was changed, reads go on working. Try again once space has been freed.",
                    );
                }
                add(
                    "503",
                    "`SERVICE_UNAVAILABLE`: the database is unreachable or the request timed out.",
                );
                for response in responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response
                            .headers
                            .entry("X-Request-Id".to_owned())
                            .or_insert_with(|| request_id.clone());
                    }
                }
            }
        }
    }
}

/// What the derive cannot attach to the request schemas: the rule that a recurring task needs a
/// due date (as `if`/`then` and `not`, which utoipa has no builder for).
struct RequestRules;

impl Modify for RequestRules {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use serde_json::json;
        use utoipa::openapi::{RefOr, Schema, schema::Object};

        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let schemas = &mut components.schemas;
        fn object<'a>(
            schemas: &'a mut std::collections::BTreeMap<String, RefOr<Schema>>,
            name: &str,
        ) -> Option<&'a mut Object> {
            match schemas.get_mut(name)? {
                RefOr::T(Schema::Object(object)) => Some(object),
                _ => None,
            }
        }
        let rule_set = json!({
            "properties": {"recurrence_rule": {"type": "string"}},
            "required": ["recurrence_rule"],
        });
        // Create and replace: a rule needs a due date in the same body.
        let needs_due_date = [
            ("if", rule_set.clone()),
            (
                "then",
                json!({
                    "properties": {"due_date": {"type": "string"}},
                    "required": ["due_date"],
                }),
            ),
        ];
        for name in ["CreateTaskRequest", "ReplaceTaskRequest"] {
            if let Some(schema) = object(schemas, name) {
                let extensions = schema.extensions.get_or_insert_with(Default::default);
                extensions.extend(needs_due_date.clone().map(|(k, v)| (k.to_owned(), v)));
            }
        }
        // Patch: a rule cannot come with a due date cleared (without one in the body, the
        // task's own due date must be set: a 400 `RECURRENCE_REQUIRES_DUE_DATE` otherwise).
        if let Some(schema) = object(schemas, "UpdateTaskRequest") {
            let extensions = schema.extensions.get_or_insert_with(Default::default);
            extensions.insert(
                "not".to_owned(),
                json!({
                    "properties": {
                        "recurrence_rule": {"type": "string"},
                        "due_date": {"type": "null"},
                    },
                    "required": ["recurrence_rule", "due_date"],
                }),
            );
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(
            SwaggerUi::new("/docs")
                .url("/openapi.json", ApiDoc::openapi())
                .config(swagger_config()),
        )
        // Served in place of the stock script (the more specific route wins over `/docs/{*rest}`).
        .route("/docs/swagger-initializer.js", get(swagger_initializer))
        .route("/redoc", get(redoc_page))
        .route("/redoc/redoc.standalone.js", get(redoc_script))
}

fn swagger_config() -> utoipa_swagger_ui::Config<'static> {
    // No call to the online validator: the page works with no internet access.
    utoipa_swagger_ui::Config::new(["/openapi.json"]).validator_url("none")
}

/// Swagger UI's start-up script: ours (`swagger_initializer.js`, which fills the signed-in user's
/// id into every `user_id` field after "Authorize"), with [`swagger_config`] written in as JSON.
async fn swagger_initializer() -> impl IntoResponse {
    static SCRIPT: LazyLock<String> = LazyLock::new(|| {
        let config =
            serde_json::to_string(&swagger_config()).expect("the Swagger UI configuration is JSON");
        include_str!("swagger_initializer.js").replacen("'{{config}}'", &config, 1)
    });
    (
        [(
            header::CONTENT_TYPE,
            "application/javascript; charset=utf-8",
        )],
        SCRIPT.as_str(),
    )
}

async fn redoc_page() -> Html<&'static str> {
    Html(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>todo-api — ReDoc</title>
  <!-- No icon, so that the browser does not ask for /favicon.ico, which the service lacks. -->
  <link rel="icon" href="data:,">
</head>
<body>
  <div id="redoc-container"></div>
  <script src="/redoc/redoc.standalone.js"></script>
  <script>
    Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc-container"));
  </script>
</body>
</html>"#,
    )
}

/// The footer of the ReDoc bundle always shows Redocly's logo from `cdn.redoc.ly` (no ReDoc
/// option turns it off), so the image is cut out as the bundle is served: the "API docs by
/// Redocly" credit stays, and the page makes no request outside the service. A test checks that
/// the served bundle no longer names the CDN, in case a new bundle spells the footer otherwise.
const REDOC_CDN_LOGO: &str = r#"e?n.createElement("img",{alt:"redocly logo",onError:()=>t(!1),src:"https://cdn.redoc.ly/redoc/logo-mini.svg"}):null"#;

async fn redoc_script() -> impl IntoResponse {
    static SCRIPT: LazyLock<String> =
        LazyLock::new(|| REDOC_JS.replacen(REDOC_CDN_LOGO, "null", 1));
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        SCRIPT.as_str(),
    )
}
