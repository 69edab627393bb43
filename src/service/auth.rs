//! Access control: the bearer tokens a caller must present (`--token-file`, and
//! `--metrics-token` for `/metrics`), read from files of one token per line and read
//! again on every reload. Tokens are kept only as SHA-256 digests and compared in
//! constant time, so neither a token's bytes nor its length leak through timing, and a
//! token never reaches a log line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The tokens of one token file, as digests.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    digests: Vec<[u8; 32]>,
}

impl Tokens {
    /// Reads a token file: one token per line; blank lines and lines starting with `#`
    /// are skipped, and spaces around a token are not part of it.
    ///
    /// A file without any token is an error: it would lock every caller out.
    pub(crate) fn read(path: &Path) -> Result<Tokens, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let tokens = Tokens::parse(&text);
        if tokens.digests.is_empty() {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the token file holds no token (one per line; `#` starts a comment line)",
                ),
            });
        }
        Ok(tokens)
    }

    fn parse(text: &str) -> Tokens {
        let digests = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(|token| Sha256::digest(token.as_bytes()).into())
            .collect();
        Tokens { digests }
    }

    /// Whether `presented` is one of the tokens. Every token is compared, each in
    /// constant time, whether or not an earlier one matched.
    pub(crate) fn accepts(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let mut found = 0u8;
        for known in &self.digests {
            found |= u8::from(constant_time_eq(known, &digest));
        }
        found == 1
    }

    pub(crate) fn len(&self) -> usize {
        self.digests.len()
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    // Keeps the compiler from turning the loop into an early exit.
    std::hint::black_box(diff) == 0
}

/// A token file and the tokens last read from it.
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    tokens: ArcSwap<Tokens>,
}

impl TokenFile {
    /// Reads the file; an unreadable or empty file stops the service from starting.
    pub(crate) fn load(path: &Path) -> Result<TokenFile, Error> {
        Ok(TokenFile {
            path: path.to_path_buf(),
            tokens: ArcSwap::from_pointee(Tokens::read(path)?),
        })
    }

    /// Reads the file again. When it cannot be read or holds no token, the tokens in
    /// use stay (an operator's half-written file must not lock everyone out) and the
    /// error is returned for the log.
    pub(crate) fn reload(&self) -> Result<usize, Error> {
        let tokens = Tokens::read(&self.path)?;
        let n = tokens.len();
        self.tokens.store(Arc::new(tokens));
        Ok(n)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Checks a request's `Authorization` header value.
    pub(crate) fn check(&self, authorization: Option<&[u8]>) -> Result<(), Refusal> {
        let Some(value) = authorization else {
            return Err(Refusal::Missing);
        };
        let token = bearer(value).ok_or(Refusal::Missing)?;
        if self.tokens.load().accepts(token) {
            Ok(())
        } else {
            Err(Refusal::Invalid)
        }
    }
}

/// The token of `Bearer <token>` (the scheme in any case, RFC 7235).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that is not in the file.
    Invalid,
}

impl Refusal {
    /// The metrics label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Invalid => "invalid",
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750).
    pub(crate) fn challenge(self) -> &'static str {
        match self {
            Refusal::Missing => "Bearer realm=\"leadscore\"",
            Refusal::Invalid => "Bearer realm=\"leadscore\", error=\"invalid_token\"",
        }
    }

    /// The error message of the JSON body.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "this route needs a token: send the header `Authorization: Bearer <token>`"
            }
            Refusal::Invalid => "the bearer token is not accepted; ask the operator for a token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_skip_comments_blank_lines_and_spaces() {
        let tokens = Tokens::parse("# team A\nalpha-1\n\n  beta-2  \n#gamma\n");
        assert_eq!(tokens.len(), 2);
        assert!(tokens.accepts(b"alpha-1"));
        assert!(tokens.accepts(b"beta-2"));
        for refused in [
            &b"gamma"[..],
            b"#gamma",
            b"alpha",
            b"alpha-1 ",
            b"",
            b"# team A",
        ] {
            assert!(!tokens.accepts(refused), "{refused:?}");
        }
    }

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic YWJj"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn a_reload_swaps_the_tokens_unless_the_file_is_empty() {
        let path = std::env::temp_dir().join(format!("leadscore-tokens-{}", std::process::id()));
        std::fs::write(&path, "one\ntwo\n").unwrap();
        let file = TokenFile::load(&path).unwrap();
        let check = |token: &str| file.check(Some(format!("Bearer {token}").as_bytes()));
        assert_eq!(check("two"), Ok(()));
        std::fs::write(&path, "one\n").unwrap();
        assert_eq!(file.reload().unwrap(), 1);
        assert_eq!(check("two"), Err(Refusal::Invalid));
        assert_eq!(file.check(None), Err(Refusal::Missing));
        // An empty file is refused; the tokens in use stay.
        std::fs::write(&path, "# all gone\n").unwrap();
        assert!(file.reload().is_err());
        assert_eq!(check("one"), Ok(()));
        std::fs::remove_file(&path).unwrap();
    }
}
