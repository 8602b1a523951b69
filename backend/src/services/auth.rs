//! Sign-up, sign-in, refresh-token rotation with reuse detection (and its short overlap for
//! racing refreshes), and logout.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    core::{
        clock::Clock,
        error::{ApiError, ErrorCode},
        security::{
            jwt::{Claims, SignedToken, TokenError, TokenKeys, TokenType},
            password::{PasswordHasherPool, Verified},
        },
    },
    db::Store,
    models::{Caller, DisplayName, Email, Password, RefreshSession, User, UserId},
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

/// Accounts' credentials and sessions: sign-up, sign-in, token rotation, logout, and the
/// check of every access token.
pub struct AuthService {
    store: Arc<Store>,
    tokens: Arc<TokenKeys>,
    hasher: PasswordHasherPool,
    /// How long a superseded refresh token is still answered (`REFRESH_REUSE_GRACE_SECS`).
    refresh_reuse_grace: Duration,
    clock: Clock,
}

impl AuthService {
    pub fn new(
        store: Arc<Store>,
        tokens: Arc<TokenKeys>,
        hasher: PasswordHasherPool,
        refresh_reuse_grace: Duration,
        clock: Clock,
    ) -> Self {
        Self {
            store,
            tokens,
            hasher,
            refresh_reuse_grace,
            clock,
        }
    }

    /// Verifies an access token's signature, expiry and type; returns its claims. Whether its
    /// session is still live the store checks in the unit of work that serves the request
    /// (see [`Caller`]), or [`AuthService::check_session`] for a request that has none.
    pub fn authenticate(&self, token: &str) -> Result<Claims, ApiError> {
        self.tokens
            .verify(token, TokenType::Access)
            .map_err(|error| token_error(error, ErrorCode::TokenExpired))
    }

    /// Refuses a caller whose session has ended.
    pub async fn check_session(&self, caller: &Caller) -> Result<(), ApiError> {
        Ok(self.store.check_session(caller).await?)
    }

    /// Creates an account. Of two concurrent sign-ups with one email exactly one succeeds: the
    /// unique index decides, and the loser gets `EMAIL_ALREADY_EXISTS`.
    pub async fn register(&self, account: NewAccount) -> Result<User, ApiError> {
        let hash = self.hasher.hash(account.password.expose()).await?;
        Ok(self
            .store
            .insert_user(&account.email, &hash, account.name.as_ref())
            .await?)
    }

    /// Checks the credentials and opens a session. An unknown email costs the same hashing work
    /// as a wrong password and gets the same answer.
    pub async fn login(&self, email: &str, password: &str) -> Result<IssuedTokens, ApiError> {
        let user = match Email::parse(email) {
            Ok(email) => self.store.find_user_by_email(&email).await?,
            Err(_) => None,
        };
        let user = verify_password(&self.store, &self.hasher, user, password).await?;
        let session_id = Uuid::new_v4();
        let tokens = self.issue_pair(user.id.as_uuid(), &user.email, session_id, self.clock.now());
        let (jti, expires_at) = (tokens.refresh.claims.jti, expiry(&tokens.refresh));
        self.store
            .create_session(session_id, user.id, jti, expires_at)
            .await?;
        Ok(tokens)
    }

    fn issue_pair(
        &self,
        user_id: Uuid,
        email: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> IssuedTokens {
        let issue = |kind| self.tokens.issue(kind, user_id, email, session_id, now);
        IssuedTokens {
            access: issue(TokenType::Access),
            refresh: issue(TokenType::Refresh),
        }
    }

    /// Exchanges a refresh token for a new pair. Only the session's current token works, except
    /// for `REFRESH_REUSE_GRACE_SECS` after a rotation: the token it superseded (racing tabs, a
    /// retry after a lost response) gets the current refresh token and a fresh access token, so
    /// both clients stay signed in. Any older token, or the superseded one later, was copied:
    /// the whole session is revoked.
    pub async fn refresh(&self, token: Option<&str>) -> Result<IssuedTokens, ApiError> {
        let token = token.ok_or(ErrorCode::MissingRefreshToken)?;
        let claims = self
            .tokens
            .verify(token, TokenType::Refresh)
            .map_err(|error| token_error(error, ErrorCode::RefreshTokenExpired))?;
        let user_id = UserId::from(claims.sub);
        let now = self.clock.now();
        let tokens = self.issue_pair(claims.sub, &claims.email, claims.sid, now);
        let rotated = self
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

        let session = self.store.find_session(claims.sid, user_id).await?;
        let Some(session) = session.filter(|session| session.revoked_at.is_none()) else {
            return Err(ErrorCode::TokenRevoked.into());
        };
        if session.expires_at <= self.clock.now() {
            return Err(ErrorCode::RefreshTokenExpired.into());
        }
        if let Some(current) = self.current_token_within_overlap(&claims, &session) {
            tracing::info!(
                %user_id,
                "the refresh token just superseded was presented within the rotation overlap; \
                 answered with the current one"
            );
            return Ok(IssuedTokens {
                access: tokens.access,
                refresh: current,
            });
        }
        self.store.revoke_session(claims.sid, user_id).await?;
        tracing::warn!(%user_id, "a rotated refresh token was used again; session revoked");
        Err(ApiError::new(ErrorCode::TokenRevoked)
            .with_detail("This refresh token was already used; the session has been revoked."))
    }

    /// The session's current refresh token, signed again byte for byte as the rotation issued it
    /// (`sub`, `email`, `sid` from the token it replaced, `iat` from `rotated_at`, `exp` from
    /// `expires_at`), when `presented` is the token the latest rotation superseded and that
    /// rotation is younger than the grace window.
    fn current_token_within_overlap(
        &self,
        presented: &Claims,
        session: &RefreshSession,
    ) -> Option<SignedToken> {
        let grace = chrono::Duration::from_std(self.refresh_reuse_grace).ok()?;
        let rotated_at = session.rotated_at?;
        let superseded = session.previous_jti == Some(presented.jti);
        if grace.is_zero() || !superseded || self.clock.now() - rotated_at >= grace {
            return None;
        }
        Some(self.tokens.sign(Claims {
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
    pub async fn logout(&self, token: Option<&str>) -> Result<(), ApiError> {
        let Some(claims) = token.and_then(|t| self.tokens.verify_ignoring_expiry(t).ok()) else {
            return Ok(());
        };
        let user_id = UserId::from(claims.sub);
        Ok(self.store.revoke_session(claims.sid, user_id).await?)
    }
}

/// Verifies `password` for `user` (or burns the same time when there is none), upgrading a
/// legacy hash on success.
pub(super) async fn verify_password(
    store: &Store,
    hasher: &PasswordHasherPool,
    user: Option<User>,
    password: &str,
) -> Result<User, ApiError> {
    let stored = user.as_ref().map(|u| u.password_hash.as_str());
    match (hasher.verify(password, stored).await?, user) {
        (Verified::Yes, Some(user)) => Ok(user),
        (Verified::YesUpgrade(new_hash), Some(user)) => {
            store.update_password_hash(user.id, &new_hash).await?;
            tracing::info!("upgraded a legacy bcrypt password hash to Argon2id");
            Ok(user)
        }
        _ => Err(ErrorCode::InvalidCredentials.into()),
    }
}

/// Why a token was refused; an expired one gets `expired`, which differs by token type.
fn token_error(error: TokenError, expired: ErrorCode) -> ApiError {
    ApiError::new(match error {
        TokenError::Invalid => ErrorCode::InvalidToken,
        TokenError::Expired => expired,
        TokenError::WrongType => ErrorCode::InvalidTokenType,
    })
}

fn expiry(token: &SignedToken) -> DateTime<Utc> {
    DateTime::from_timestamp(token.claims.exp, 0).unwrap_or_else(Utc::now)
}
