//! `/api/v1/auth`: register, login, refresh, logout, me.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{FromRequest, Request, State},
    http::{StatusCode, header},
    middleware,
    response::IntoResponse,
    routing::{get, post},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::{
    core::{
        error::{ApiError, ErrorBody, ErrorCode},
        rate_limit::{IpRateLimit, limit_by_ip},
        security::jwt::{ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL},
    },
    models::{DisplayName, Email, Password},
    routers::{
        extract::{ApiJson, AuthUser, body_error, has_content_type, parse_form, parse_json},
        state::AppState,
    },
    schemas::{
        auth::{LoginForm, LoginRequest, MessageResponse, RegisterRequest, TokenResponse},
        users::UserResponse,
    },
    services::auth::{IssuedTokens, NewAccount},
};

/// The cookie that carries the refresh token.
pub const REFRESH_COOKIE: &str = "refresh_token";
/// The only path the refresh cookie is sent to.
pub const REFRESH_COOKIE_PATH: &str = "/api/v1/auth";

pub fn router(state: &AppState) -> Router<AppState> {
    let limits = &state.auth_limits;
    let limited = |limit: &IpRateLimit| middleware::from_fn_with_state(limit.clone(), limit_by_ip);
    Router::new()
        .route(
            "/auth/register",
            post(register).route_layer(limited(&limits.register)),
        )
        .route(
            "/auth/login",
            post(login).route_layer(limited(&limits.login)),
        )
        .route(
            "/auth/refresh",
            post(refresh).route_layer(limited(&limits.refresh)),
        )
        .route("/auth/logout", post(logout))
        .route("/auth/me", get(me))
}

/// Create an account.
#[utoipa::path(
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new account.", body = UserResponse),
        (status = 400, description = "`EMAIL_ALREADY_EXISTS`, `PASSWORD_TOO_SHORT`, `PASSWORD_TOO_LONG`, `INVALID_EMAIL`.", body = ErrorBody),
        (status = 422, description = "`VALIDATION_ERROR`: malformed body, missing or unknown field, name over 100 characters.", body = ErrorBody),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`, with `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let account = NewAccount {
        email: Email::parse(&body.email)?,
        password: Password::parse(&body.password, "password")?,
        name: body
            .name
            .as_deref()
            .map(DisplayName::parse)
            .transpose()?
            .flatten(),
    };
    let user = state.auth.register(account).await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserResponse::from(user)),
    ))
}

/// Credentials from either an OAuth2 password form or a JSON body.
pub struct Credentials(LoginRequest);

impl<S: Send + Sync> FromRequest<S> for Credentials {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = has_content_type(req.headers(), |m| m == "application/x-www-form-urlencoded");
        let json = has_content_type(req.headers(), |m| m == "application/json");
        if !form && !json {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
                "Send the credentials as application/json or application/x-www-form-urlencoded.",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if form {
            let form: LoginForm = parse_form(&bytes)?;
            let (email, password) = (form.username, form.password);
            Ok(Self(LoginRequest { email, password }))
        } else {
            parse_json(&bytes).map(Self)
        }
    }
}

/// Sign in. Accepts the OAuth2 password form (`username` = email, `password`), which is what
/// Swagger UI's Authorize sends, or JSON `{email, password}`. Sets the `refresh_token` cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body(
        description = "OAuth2 password form (`username` is the email) or JSON `{email, password}`.",
        content(
            (LoginForm = "application/x-www-form-urlencoded"),
            (LoginRequest = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Signed in; the refresh token is in the `refresh_token` cookie (HttpOnly, SameSite=Strict, Path=/api/v1/auth).", body = TokenResponse),
        (status = 401, description = "`INVALID_CREDENTIALS`: the same answer whether or not the email is registered.", body = ErrorBody),
        (status = 415, description = "`UNSUPPORTED_MEDIA_TYPE`.", body = ErrorBody),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`, with `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    jar: CookieJar,
    Credentials(credentials): Credentials,
) -> Result<impl IntoResponse, ApiError> {
    let tokens = state
        .auth
        .login(&credentials.email, &credentials.password)
        .await?;
    Ok(token_response(&state, jar, tokens))
}

/// Exchange the `refresh_token` cookie for a new access token and a new refresh cookie. The
/// old refresh token stops working; using it again revokes the whole session, except within
/// `REFRESH_REUSE_GRACE_SECS` (default 30) of the rotation, when the token just replaced is
/// answered with the current refresh cookie (two tabs refreshing at once both stay signed in).
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    responses(
        (status = 200, description = "A new access token; the cookie is rotated.", body = TokenResponse),
        (status = 401, description = "`MISSING_REFRESH_TOKEN`, `REFRESH_TOKEN_EXPIRED`, `INVALID_TOKEN`, `INVALID_TOKEN_TYPE`, `TOKEN_REVOKED`.", body = ErrorBody),
        (status = 429, description = "`RATE_LIMIT_EXCEEDED`, with `Retry-After`.", body = ErrorBody),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    let token = jar
        .get(REFRESH_COOKIE)
        .map(Cookie::value)
        .filter(|value| !value.is_empty());
    let tokens = state.auth.refresh(token).await?;
    Ok(token_response(&state, jar, tokens))
}

/// Sign out: revokes the session server-side (its access tokens stop working too) and clears
/// the cookie. Succeeds without a cookie.
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 200, description = "Signed out.", body = MessageResponse))
)]
pub async fn logout(
    State(state): State<AppState>,
    jar: CookieJar,
) -> Result<impl IntoResponse, ApiError> {
    state
        .auth
        .logout(jar.get(REFRESH_COOKIE).map(Cookie::value))
        .await?;
    let cleared = refresh_cookie(&state, String::new(), time::Duration::ZERO);
    Ok((
        jar.add(cleared),
        Json(MessageResponse {
            message: "Signed out.".into(),
        }),
    ))
}

/// The signed-in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = []), ("oauth2" = [])),
    responses((status = 200, description = "The caller's account.", body = UserResponse))
)]
pub async fn me(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state.accounts.profile(user.caller).await?;
    Ok(Json(user.into()))
}

fn token_response(
    state: &AppState,
    jar: CookieJar,
    tokens: IssuedTokens,
) -> impl IntoResponse + use<> {
    let max_age = time::Duration::seconds(REFRESH_TOKEN_TTL.num_seconds());
    let cookie = refresh_cookie(state, tokens.refresh.token, max_age);
    (
        [(header::CACHE_CONTROL, "no-store")],
        jar.add(cookie),
        Json(TokenResponse {
            access_token: tokens.access.token,
            token_type: "bearer".into(),
            expires_in: ACCESS_TOKEN_TTL.num_seconds(),
        }),
    )
}

fn refresh_cookie(state: &AppState, value: String, max_age: time::Duration) -> Cookie<'static> {
    Cookie::build((REFRESH_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(REFRESH_COOKIE_PATH)
        .max_age(max_age)
        .secure(state.settings.cookie_secure)
        .build()
}
