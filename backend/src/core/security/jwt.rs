//! Access and refresh tokens: HS256 JWTs signed with `JWT_SECRET_KEY`.
//!
//! Only HS256 is accepted; `alg: none`, other algorithms, bad signatures, missing claims and an
//! `iat` further than [`IAT_LEEWAY`] in the future all fail as `INVALID_TOKEN`, expiry as
//! `TOKEN_EXPIRED`, and a token of the other type as `INVALID_TOKEN_TYPE`.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::core::settings::JwtSecret;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(15);
/// Lifetime of a refresh token (and of the cookie that carries it).
pub const REFRESH_TOKEN_TTL: Duration = Duration::days(7);
/// How far in the future a token's `iat` may lie: clock skew between server processes, not a
/// way to mint tokens for later. `exp` has no leeway (a token that expires a moment early
/// only costs a refresh), but refusing a token another process issued a moment "ahead" would
/// sign a user out, so `iat` gets the usual minute of skew.
pub const IAT_LEEWAY: Duration = Duration::seconds(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

/// The claims of both token types. `sid` names the login session the token belongs to, so
/// that logout and password changes can revoke it server-side.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub sid: Uuid,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    Invalid,
    Expired,
    WrongType,
}

/// Signs and checks tokens with one key.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// A freshly signed token and when it stops working.
pub struct SignedToken {
    pub token: String,
    pub claims: Claims,
}

impl TokenKeys {
    pub fn new(secret: &JwtSecret) -> Self {
        // Allows HS256 alone and checks `exp`.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
        }
    }

    /// Signs a token of `token_type` for the user and session, valid from `now`.
    pub fn issue(
        &self,
        token_type: TokenType,
        user_id: Uuid,
        email: &str,
        session_id: Uuid,
        now: DateTime<Utc>,
    ) -> SignedToken {
        let ttl = match token_type {
            TokenType::Access => ACCESS_TOKEN_TTL,
            TokenType::Refresh => REFRESH_TOKEN_TTL,
        };
        self.sign(Claims {
            sub: user_id,
            email: email.to_owned(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: Uuid::new_v4(),
            token_type,
            sid: session_id,
        })
    }

    /// Signs `claims` as they are. HS256 is deterministic, so equal claims give the very same
    /// token: the rotation overlap hands a session's current refresh token out again this way.
    pub fn sign(&self, claims: Claims) -> SignedToken {
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail");
        SignedToken { token, claims }
    }

    /// Checks signature, algorithm, expiry, issue time and type.
    pub fn verify(&self, token: &str, expected: TokenType) -> Result<Claims, TokenError> {
        let claims = self.decode(token, &self.validation)?;
        if claims.token_type != expected {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }

    /// Checks the signature but not the expiry: logout must be able to revoke the session of
    /// an expired refresh token.
    pub fn verify_ignoring_expiry(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        self.decode(token, &validation)
    }

    fn decode(&self, token: &str, validation: &Validation) -> Result<Claims, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        // jsonwebtoken checks that `iat` is present, not when it lies.
        if claims.iat > (Utc::now() + IAT_LEEWAY).timestamp() {
            return Err(TokenError::Invalid);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&JwtSecret::generate())
    }

    /// A token of `token_type` for a fresh user and session, issued at `now`.
    fn issue(keys: &TokenKeys, token_type: TokenType, now: DateTime<Utc>) -> SignedToken {
        keys.issue(
            token_type,
            Uuid::new_v4(),
            "a@example.com",
            Uuid::new_v4(),
            now,
        )
    }

    #[test]
    fn issued_token_verifies_with_its_claims() {
        let keys = keys();
        let signed = issue(&keys, TokenType::Access, Utc::now());
        let claims = keys.verify(&signed.token, TokenType::Access).unwrap();
        assert_eq!(claims, signed.claims);
        assert_eq!(claims.exp - claims.iat, 900);
    }

    #[test]
    fn refresh_token_is_not_an_access_token() {
        let keys = keys();
        let signed = issue(&keys, TokenType::Refresh, Utc::now());
        assert_eq!(
            keys.verify(&signed.token, TokenType::Access),
            Err(TokenError::WrongType)
        );
        assert_eq!(signed.claims.exp - signed.claims.iat, 604_800);
    }

    #[test]
    fn expired_token_is_expired_but_still_identifiable() {
        let keys = keys();
        let signed = issue(&keys, TokenType::Refresh, Utc::now() - Duration::days(30));
        assert_eq!(
            keys.verify(&signed.token, TokenType::Refresh),
            Err(TokenError::Expired)
        );
        assert!(keys.verify_ignoring_expiry(&signed.token).is_ok());
    }

    #[test]
    fn token_issued_in_the_future_is_invalid_beyond_the_leeway() {
        let keys = keys();
        let far = issue(&keys, TokenType::Refresh, Utc::now() + Duration::hours(1));
        assert_eq!(
            keys.verify(&far.token, TokenType::Refresh),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            keys.verify_ignoring_expiry(&far.token),
            Err(TokenError::Invalid)
        );
        let skewed = Utc::now() + IAT_LEEWAY - Duration::seconds(5);
        let skewed = issue(&keys, TokenType::Refresh, skewed);
        assert!(keys.verify(&skewed.token, TokenType::Refresh).is_ok());
    }

    #[test]
    fn signing_the_same_claims_again_gives_the_same_token() {
        let keys = keys();
        let signed = issue(&keys, TokenType::Refresh, Utc::now());
        assert_eq!(keys.sign(signed.claims.clone()).token, signed.token);
    }

    #[test]
    fn token_signed_with_another_key_is_invalid() {
        let signed = issue(&keys(), TokenType::Access, Utc::now());
        assert_eq!(
            keys().verify(&signed.token, TokenType::Access),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn unsigned_and_garbage_tokens_are_invalid() {
        let keys = keys();
        let signed = issue(&keys, TokenType::Access, Utc::now());
        let payload = signed.token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        for token in [unsigned.as_str(), "not-a-jwt"] {
            assert_eq!(
                keys.verify(token, TokenType::Access),
                Err(TokenError::Invalid)
            );
        }
    }
}
