//! Users, roles and sessions: who may read what (`vigil users`, the login
//! of the web app, API tokens).
//!
//! Users live in a TOML file the deployment keeps (never in the
//! repository): a name, a role, an argon2 hash of the password and argon2
//! hashes of API tokens. Nothing in the file lets anyone log in without
//! the secret. Verified tokens are remembered by their SHA-256 for the
//! life of the process, so that argon2's deliberate cost is paid once per
//! token, not per request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sqlguard::Role;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    /// argon2 PHC string of the password.
    pub password_hash: String,
    /// argon2 PHC strings of the user's API tokens.
    #[serde(default)]
    pub token_hashes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersFile {
    #[serde(default, rename = "user")]
    pub users: Vec<UserRecord>,
}

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

fn hash(secret: &str) -> Result<String> {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Ok(Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

fn verify(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random secret of `bytes` bytes, hex.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng
        .try_fill_bytes(&mut buf)
        .expect("the system's random source works");
    hex::encode(buf)
}

impl UsersFile {
    pub fn load(path: &Path) -> Result<UsersFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the users file {}", path.display()))?;
        let file: UsersFile =
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        for u in &file.users {
            if u.password_hash.is_empty() || PasswordHash::new(&u.password_hash).is_err() {
                bail!(
                    "{}: user '{}' has no valid argon2 password hash (an account without a password is not allowed)",
                    path.display(),
                    u.name
                );
            }
        }
        Ok(file)
    }

    /// Adds (or replaces) a user with a fresh random password and API
    /// token; returns them. Only their hashes are written.
    pub fn add_user(path: &Path, name: &str, role: Role) -> Result<(String, String)> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "._-".contains(c))
        {
            bail!("a user name is letters, digits, '.', '_' or '-'");
        }
        let mut file = if path.exists() {
            UsersFile::load(path)?
        } else {
            UsersFile::default()
        };
        let password = random_secret(12);
        let token = format!("vgl_{}", random_secret(24));
        file.users.retain(|u| u.name != name);
        file.users.push(UserRecord {
            name: name.to_string(),
            role,
            password_hash: hash(&password)?,
            token_hashes: vec![hash(&token)?],
        });
        let text = toml::to_string_pretty(&file)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok((password, token))
    }
}

/// The users of a running service, its sessions and verified tokens.
pub struct Auth {
    users: Vec<UserRecord>,
    sessions: Mutex<HashMap<String, (Principal, Instant)>>,
    tokens: Mutex<HashMap<[u8; 32], Principal>>,
    pub session_lifetime: Duration,
}

impl Auth {
    pub fn new(file: UsersFile) -> Auth {
        Auth {
            users: file.users,
            sessions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            session_lifetime: Duration::from_secs(12 * 3600),
        }
    }

    /// The user whose password this is.
    pub fn login(&self, name: &str, password: &str) -> Option<Principal> {
        let u = self.users.iter().find(|u| u.name == name)?;
        verify(password, &u.password_hash).then(|| Principal {
            name: u.name.clone(),
            role: u.role,
        })
    }

    /// The user an API token belongs to.
    pub fn token(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(p) = self.tokens.lock().expect("lock").get(&digest) {
            return Some(p.clone());
        }
        let u = self
            .users
            .iter()
            .find(|u| u.token_hashes.iter().any(|h| verify(token, h)))?;
        let p = Principal {
            name: u.name.clone(),
            role: u.role,
        };
        self.tokens.lock().expect("lock").insert(digest, p.clone());
        Some(p)
    }

    /// Opens a session; returns its cookie value.
    pub fn open_session(&self, p: Principal) -> String {
        let id = random_secret(32);
        let mut s = self.sessions.lock().expect("lock");
        let now = Instant::now();
        s.retain(|_, (_, t)| now.duration_since(*t) < self.session_lifetime);
        s.insert(id.clone(), (p, now));
        id
    }

    pub fn session(&self, id: &str) -> Option<Principal> {
        let s = self.sessions.lock().expect("lock");
        let (p, t) = s.get(id)?;
        (t.elapsed() < self.session_lifetime).then(|| p.clone())
    }

    pub fn close_session(&self, id: &str) {
        self.sessions.lock().expect("lock").remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_log_in_with_their_password_and_token_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let (pw, token) = UsersFile::add_user(&path, "lan", Role::Analyst).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains(&pw) && !text.contains(&token),
            "only hashes are written"
        );
        assert!(text.contains("$argon2id$"));
        let auth = Auth::new(UsersFile::load(&path).unwrap());
        assert_eq!(auth.login("lan", &pw).unwrap().role, Role::Analyst);
        assert!(auth.login("lan", "").is_none());
        assert!(auth.login("lan", "wrong").is_none());
        assert!(auth.login("nobody", &pw).is_none());
        assert_eq!(auth.token(&token).unwrap().name, "lan");
        assert_eq!(auth.token(&token).unwrap().name, "lan", "from the cache");
        assert!(auth.token("vgl_nope").is_none());
        let s = auth.open_session(auth.login("lan", &pw).unwrap());
        assert_eq!(auth.session(&s).unwrap().name, "lan");
        auth.close_session(&s);
        assert!(auth.session(&s).is_none());
    }

    #[test]
    fn an_account_without_a_password_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(
            &path,
            "[[user]]\nname = \"x\"\nrole = \"admin\"\npassword_hash = \"\"\n",
        )
        .unwrap();
        let e = UsersFile::load(&path).unwrap_err().to_string();
        assert!(e.contains("without a password"), "{e}");
    }
}
