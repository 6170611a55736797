//! Authentication: Elevate's own bearer tokens (HS256 JWTs signed with `auth.token_secret`).
mod token;

pub use token::{AuthError, IssuedToken, TokenAuthority};
