//! Sign-up, sign-in, refresh-token rotation with reuse detection (and its short overlap for
//! racing refreshes), and logout.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    app::AppState,
    core::{
        error::{ApiError, ErrorCode},
        security::{
            jwt::{Claims, SignedToken, TokenError, TokenType},
            password::Verified,
        },
    },
    models::{DisplayName, Email, Password, RefreshSession, User, UserId},
};

/// The two tokens of a login session.
pub struct IssuedTokens {
    pub access: SignedToken,
    pub refresh: SignedToken,
}

/// Validated sign-up input.
pub struct NewAccount {
    pub email: Email,
    pub password: Password,
    pub name: Option<DisplayName>,
}

/// Creates an account. Of two concurrent sign-ups with one email exactly one succeeds: the
/// unique index decides, and the loser gets `EMAIL_ALREADY_EXISTS`.
pub async fn register(state: &AppState, account: NewAccount) -> Result<User, ApiError> {
    let hash = state.hasher.hash(account.password.expose()).await?;
    Ok(state
        .store
        .insert_user(&account.email, &hash, account.name.as_ref())
        .await?)
}

/// Checks the credentials and opens a session. An unknown email costs the same hashing work
/// as a wrong password and gets the same answer.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
) -> Result<IssuedTokens, ApiError> {
    let user = match Email::parse(email) {
        Ok(email) => state.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let user = verify_password(state, user, password).await?;
    open_session(state, user.id, &user.email).await
}

/// Verifies `password` for `user` (or burns the same time when there is none), upgrading a
/// legacy hash on success.
pub async fn verify_password(
    state: &AppState,
    user: Option<User>,
    password: &str,
) -> Result<User, ApiError> {
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    match (state.hasher.verify(password, stored).await?, user) {
        (Verified::Yes, Some(user)) => Ok(user),
        (Verified::YesUpgrade(new_hash), Some(user)) => {
            state.store.update_password_hash(user.id, &new_hash).await?;
            tracing::info!("upgraded a legacy bcrypt password hash to Argon2id");
            Ok(user)
        }
        _ => Err(ErrorCode::InvalidCredentials.into()),
    }
}

async fn open_session(
    state: &AppState,
    user_id: UserId,
    email: &str,
) -> Result<IssuedTokens, ApiError> {
    let session_id = Uuid::new_v4();
    let tokens = issue_pair(state, user_id.as_uuid(), email, session_id, Utc::now());
    state
        .store
        .create_session(
            session_id,
            user_id,
            tokens.refresh.claims.jti,
            expiry(&tokens.refresh),
        )
        .await?;
    Ok(tokens)
}

fn issue_pair(
    state: &AppState,
    user_id: Uuid,
    email: &str,
    session_id: Uuid,
    now: DateTime<Utc>,
) -> IssuedTokens {
    IssuedTokens {
        access: state
            .tokens
            .issue(TokenType::Access, user_id, email, session_id, now),
        refresh: state
            .tokens
            .issue(TokenType::Refresh, user_id, email, session_id, now),
    }
}

fn expiry(token: &SignedToken) -> DateTime<Utc> {
    DateTime::from_timestamp(token.claims.exp, 0).unwrap_or_else(Utc::now)
}

/// Exchanges a refresh token for a new pair. Only the session's current token works, with one
/// exception, the rotation overlap: for `REFRESH_REUSE_GRACE_SECS` after a rotation the token
/// it superseded (two tabs racing, a retry after a lost response) is answered with the
/// session's current refresh token, the very one the rotation issued, and a fresh access
/// token, so both clients stay signed in. Any older token, or the superseded one later, means
/// it was copied, so the whole session is revoked.
pub async fn refresh(state: &AppState, token: Option<&str>) -> Result<IssuedTokens, ApiError> {
    let token = token.ok_or(ErrorCode::MissingRefreshToken)?;
    let claims = state
        .tokens
        .verify(token, TokenType::Refresh)
        .map_err(|error| match error {
            TokenError::Invalid => ErrorCode::InvalidToken,
            TokenError::Expired => ErrorCode::RefreshTokenExpired,
            TokenError::WrongType => ErrorCode::InvalidTokenType,
        })?;
    let user_id = UserId::from(claims.sub);
    let now = Utc::now();
    let tokens = issue_pair(state, claims.sub, &claims.email, claims.sid, now);
    let rotated = state
        .store
        .rotate_session(
            claims.sid,
            user_id,
            claims.jti,
            tokens.refresh.claims.jti,
            now,
            expiry(&tokens.refresh),
        )
        .await?;
    if rotated {
        return Ok(tokens);
    }

    let session = state.store.find_session(claims.sid, user_id).await?;
    match session {
        Some(session) if session.revoked_at.is_none() && session.expires_at <= Utc::now() => {
            Err(ErrorCode::RefreshTokenExpired.into())
        }
        Some(session) if session.revoked_at.is_none() => {
            if let Some(current) = current_token_within_overlap(state, &claims, &session) {
                tracing::info!(
                    %user_id,
                    "the refresh token just superseded was presented within the rotation \
                     overlap; answered with the current one"
                );
                return Ok(IssuedTokens {
                    access: tokens.access,
                    refresh: current,
                });
            }
            state.store.revoke_session(claims.sid, user_id).await?;
            tracing::warn!(%user_id, "a rotated refresh token was used again; session revoked");
            Err(ApiError::new(ErrorCode::TokenRevoked)
                .with_detail("This refresh token was already used; the session has been revoked."))
        }
        _ => Err(ErrorCode::TokenRevoked.into()),
    }
}

/// The session's current refresh token, signed again, when `presented` is the token the
/// latest rotation superseded and that rotation is younger than the grace window. The claims
/// are those the rotation signed (it copied `sub`, `email` and `sid` from the token it
/// replaced, took `iat` from `rotated_at` and `exp` from `expires_at`), so the token is byte
/// for byte the one the rotation's caller got.
fn current_token_within_overlap(
    state: &AppState,
    presented: &Claims,
    session: &RefreshSession,
) -> Option<SignedToken> {
    let grace = chrono::Duration::from_std(state.settings.refresh_reuse_grace).ok()?;
    let rotated_at = session.rotated_at?;
    let superseded = session.previous_jti == Some(presented.jti);
    if grace.is_zero() || !superseded || Utc::now() - rotated_at >= grace {
        return None;
    }
    Some(state.tokens.sign(Claims {
        sub: presented.sub,
        email: presented.email.clone(),
        iat: rotated_at.timestamp(),
        exp: session.expires_at.timestamp(),
        jti: session.current_jti,
        token_type: TokenType::Refresh,
        sid: presented.sid,
    }))
}

/// Revokes the session of the given refresh token, if it names one. Never fails on a bad or
/// missing token: logging out is idempotent.
pub async fn logout(state: &AppState, token: Option<&str>) -> Result<(), ApiError> {
    let Some(claims) = token.and_then(|t| state.tokens.verify_ignoring_expiry(t).ok()) else {
        return Ok(());
    };
    state
        .store
        .revoke_session(claims.sid, UserId::from(claims.sub))
        .await?;
    Ok(())
}
