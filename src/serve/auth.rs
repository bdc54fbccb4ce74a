//! Users, roles and sessions: who may read what (`vigil users`, the login
//! of the web app, API tokens).
//!
//! Users live in a TOML file the deployment keeps (never in the
//! repository): a name, a role, an argon2 hash of the password and keyed
//! hashes of API tokens. Nothing in the file lets anyone log in without
//! the secret.
//!
//! Passwords are chosen by people, so they get argon2's deliberate cost;
//! a name nobody has costs the same (a dummy hash is checked), so timing
//! does not tell who exists. API tokens are 24 random bytes, beyond any
//! guessing, so they are checked with HMAC-SHA-256 under a random salt of
//! their own: a flood of bad tokens costs microseconds, not argon2 time.
//! Repeated failures from one address or for one user are throttled
//! before any hash is computed (see [`Throttle`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use hmac::{Hmac, KeyInit, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::serve::sqlguard::Role;

/// The prefix of a token hash written by this version.
const TOKEN_SCHEME: &str = "hmac-sha256$";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    /// argon2 PHC string of the password.
    pub password_hash: String,
    /// `hmac-sha256$<salt>$<mac>` of the user's API tokens (argon2 PHC
    /// strings written by earlier versions are still accepted).
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

/// A token's stored form: HMAC-SHA-256 of the token under a fresh random
/// salt, both hex.
fn hash_token(token: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| anyhow::anyhow!("the system's random source failed: {e}"))?;
    Ok(format!(
        "{TOKEN_SCHEME}{}${}",
        hex::encode(salt),
        hex::encode(token_mac(&salt, token).finalize().into_bytes())
    ))
}

fn token_mac(salt: &[u8], token: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(salt).expect("HMAC takes any key");
    mac.update(token.as_bytes());
    mac
}

/// Whether `token` is the one `stored` was made from (constant time).
fn verify_token(token: &str, stored: &str) -> bool {
    let Some(rest) = stored.strip_prefix(TOKEN_SCHEME) else {
        // An argon2 hash from an earlier version.
        return verify(token, stored);
    };
    let Some((salt, mac)) = rest.split_once('$') else {
        return false;
    };
    match (hex::decode(salt), hex::decode(mac)) {
        (Ok(salt), Ok(mac)) => token_mac(&salt, token).verify_slice(&mac).is_ok(),
        _ => false,
    }
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
            token_hashes: vec![hash_token(&token)?],
        });
        let text = toml::to_string_pretty(&file)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)?;
        Ok((password, token))
    }
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Wrong name, password or token.
    Wrong,
    /// Too many recent failures: try again after this long.
    Throttled(Duration),
}

/// The users of a running service, its sessions and verified tokens.
pub struct Auth {
    users: Vec<UserRecord>,
    sessions: Mutex<HashMap<String, (Principal, Instant)>>,
    tokens: Mutex<HashMap<[u8; 32], Principal>>,
    /// Checked for a name nobody has, so that it costs what a real one does.
    dummy_hash: String,
    pub throttle: Throttle,
    pub session_lifetime: Duration,
}

impl Auth {
    pub fn new(file: UsersFile) -> Auth {
        Auth::with_throttle(file, ThrottleSettings::default())
    }

    pub fn with_throttle(file: UsersFile, settings: ThrottleSettings) -> Auth {
        Auth {
            users: file.users,
            sessions: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            dummy_hash: hash(&random_secret(16)).expect("hashing a random secret"),
            throttle: Throttle::new(settings),
            session_lifetime: Duration::from_secs(12 * 3600),
        }
    }

    /// How many token hashes are still argon2 (written by an earlier
    /// version): each bad token then costs an argon2 check per such hash.
    pub fn slow_token_hashes(&self) -> usize {
        self.users
            .iter()
            .flat_map(|u| &u.token_hashes)
            .filter(|h| !h.starts_with(TOKEN_SCHEME))
            .count()
    }

    /// The user whose password this is, unless the user or the address
    /// is throttled (checked before any hashing).
    pub fn login(
        &self,
        name: &str,
        password: &str,
        addr: Option<IpAddr>,
    ) -> Result<Principal, Refusal> {
        self.throttle.check(Some(name), addr)?;
        let user = self.users.iter().find(|u| u.name == name);
        let phc = user.map_or(self.dummy_hash.as_str(), |u| u.password_hash.as_str());
        // Always hashed, whether the name exists or not.
        let right = verify(password, phc);
        match user.filter(|_| right) {
            Some(u) => {
                self.throttle.succeeded(Some(name), addr);
                Ok(Principal {
                    name: u.name.clone(),
                    role: u.role,
                })
            }
            None => {
                self.throttle.failed(Some(name), addr);
                Err(Refusal::Wrong)
            }
        }
    }

    /// The user an API token belongs to.
    pub fn token(&self, token: &str, addr: Option<IpAddr>) -> Result<Principal, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(p) = self.tokens.lock().expect("lock").get(&digest) {
            return Ok(p.clone());
        }
        self.throttle.check(None, addr)?;
        let Some(u) = self
            .users
            .iter()
            .find(|u| u.token_hashes.iter().any(|h| verify_token(token, h)))
        else {
            self.throttle.failed(None, addr);
            return Err(Refusal::Wrong);
        };
        let p = Principal {
            name: u.name.clone(),
            role: u.role,
        };
        self.tokens.lock().expect("lock").insert(digest, p.clone());
        Ok(p)
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

/// When failed logins slow down.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures allowed per user name before the first lock.
    pub free_failures: u32,
    /// Failures allowed per client address (higher: many people may
    /// share one address behind a gateway).
    pub free_failures_per_address: u32,
    /// The first lock; each further failure doubles it.
    pub first_lock: Duration,
    /// The longest lock.
    pub max_lock: Duration,
    /// Failures are forgotten after this long without one.
    pub forget_after: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            free_failures: 5,
            free_failures_per_address: 20,
            first_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Failed logins per user name and per client address: after
/// `free_failures` of them, each further failure locks that name or
/// address for a doubling time (up to `max_lock`). A lock is checked
/// before any password is hashed, so a locked loop costs nothing.
pub struct Throttle {
    settings: ThrottleSettings,
    failures: Mutex<HashMap<Who, Failures>>,
}

/// Entries kept at most; beyond it, the ones idle longest go first (a
/// flood of invented names cannot grow memory without bound).
const THROTTLE_ENTRIES: usize = 100_000;

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Throttle {
        Throttle {
            settings,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(user: Option<&str>, addr: Option<IpAddr>) -> Vec<Who> {
        let mut keys = Vec::with_capacity(2);
        if let Some(u) = user {
            keys.push(Who::User(u.chars().take(128).collect()));
        }
        if let Some(a) = addr {
            keys.push(Who::Addr(a));
        }
        keys
    }

    /// `Err(Throttled(wait))` while the user or the address is locked.
    pub fn check(&self, user: Option<&str>, addr: Option<IpAddr>) -> Result<(), Refusal> {
        let now = Instant::now();
        let map = self.failures.lock().expect("lock");
        let wait = Self::keys(user, addr)
            .iter()
            .filter_map(|k| map.get(k)?.locked_until)
            .filter(|until| *until > now)
            .map(|until| until - now)
            .max();
        match wait {
            Some(w) => Err(Refusal::Throttled(w.max(Duration::from_secs(1)))),
            None => Ok(()),
        }
    }

    pub fn failed(&self, user: Option<&str>, addr: Option<IpAddr>) {
        let now = Instant::now();
        let s = self.settings;
        let mut map = self.failures.lock().expect("lock");
        if map.len() >= THROTTLE_ENTRIES {
            map.retain(|_, f| now.duration_since(f.last) < s.forget_after / 4);
        }
        for k in Self::keys(user, addr) {
            let f = map.entry(k.clone()).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(f.last) > s.forget_after {
                f.count = 0;
            }
            let free = match k {
                Who::User(_) => s.free_failures,
                Who::Addr(_) => s.free_failures_per_address,
            };
            f.count += 1;
            f.last = now;
            if f.count > free {
                let doublings = (f.count - free - 1).min(20);
                let lock = s.first_lock.saturating_mul(1 << doublings).min(s.max_lock);
                f.locked_until = Some(now + lock);
            }
        }
    }

    /// A success clears the user's failures and the address's.
    pub fn succeeded(&self, user: Option<&str>, addr: Option<IpAddr>) {
        let mut map = self.failures.lock().expect("lock");
        for k in Self::keys(user, addr) {
            map.remove(&k);
        }
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
        assert!(
            text.contains(TOKEN_SCHEME),
            "tokens get the fast keyed hash"
        );
        let auth = Auth::new(UsersFile::load(&path).unwrap());
        assert_eq!(auth.login("lan", &pw, None).unwrap().role, Role::Analyst);
        assert_eq!(auth.login("lan", "", None), Err(Refusal::Wrong));
        assert_eq!(auth.login("lan", "wrong", None), Err(Refusal::Wrong));
        assert_eq!(auth.login("nobody", &pw, None), Err(Refusal::Wrong));
        assert_eq!(auth.token(&token, None).unwrap().name, "lan");
        assert_eq!(
            auth.token(&token, None).unwrap().name,
            "lan",
            "from the cache"
        );
        assert_eq!(auth.token("vgl_nope", None), Err(Refusal::Wrong));
        let s = auth.open_session(auth.login("lan", &pw, None).unwrap());
        assert_eq!(auth.session(&s).unwrap().name, "lan");
        auth.close_session(&s);
        assert!(auth.session(&s).is_none());
    }

    #[test]
    fn failures_lock_the_user_and_the_address_before_any_hashing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let (pw, _) = UsersFile::add_user(&path, "lan", Role::Analyst).unwrap();
        let auth = Auth::with_throttle(
            UsersFile::load(&path).unwrap(),
            ThrottleSettings {
                free_failures: 3,
                free_failures_per_address: 6,
                ..ThrottleSettings::default()
            },
        );
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let mut hashed = Duration::ZERO;
        for _ in 0..4 {
            let t = Instant::now();
            assert_eq!(auth.login("lan", "wrong", Some(ip)), Err(Refusal::Wrong));
            hashed = t.elapsed();
        }
        // Locked now: even the right password is refused, in well under
        // the time an argon2 check takes.
        let t = Instant::now();
        let r = auth.login("lan", &pw, Some(ip));
        assert!(
            matches!(r, Err(Refusal::Throttled(w)) if w >= Duration::from_secs(29)),
            "{r:?}"
        );
        assert!(
            t.elapsed() < hashed / 10,
            "no argon2 while locked: {:?} against {hashed:?}",
            t.elapsed()
        );
        // The user is locked from another address too.
        assert!(matches!(
            auth.login("lan", &pw, Some(other)),
            Err(Refusal::Throttled(_))
        ));
        // The address is not yet (6 failures allowed): three more failures
        // for other names lock it.
        for name in ["an", "bo", "cu"] {
            assert_eq!(auth.login(name, "x", Some(ip)), Err(Refusal::Wrong));
        }
        assert!(matches!(
            auth.login("du", "x", Some(ip)),
            Err(Refusal::Throttled(_))
        ));
        // Bad tokens from one address are throttled as well.
        for _ in 0..7 {
            assert_eq!(auth.token("vgl_bad", Some(other)), Err(Refusal::Wrong));
        }
        assert!(matches!(
            auth.token("vgl_bad", Some(other)),
            Err(Refusal::Throttled(_))
        ));
    }

    #[test]
    fn a_bad_token_costs_microseconds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        for n in ["a", "b", "c"] {
            UsersFile::add_user(&path, n, Role::Analyst).unwrap();
        }
        let auth = Auth::new(UsersFile::load(&path).unwrap());
        assert_eq!(auth.slow_token_hashes(), 0);
        // Argon2 takes tens of milliseconds; three HMACs take microseconds.
        // A bound of 20 ms per token over 50 tokens fails with argon2 on
        // any machine and holds on a slow one without it.
        let t = Instant::now();
        for i in 0..50 {
            assert_eq!(
                auth.token(&format!("vgl_{i:048}"), None),
                Err(Refusal::Wrong)
            );
        }
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
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
