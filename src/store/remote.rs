//! A store on S3-compatible object storage (`--store s3://bucket/prefix`).
//!
//! Every command works on a local *cache* of the store, a folder with the
//! same layout as a local store, so the rest of vigil (ingest, facts,
//! scoring, the SQL guard) runs unchanged on local files:
//!
//! 1. **Pull.** `catalog.json` is read with its ETag (and version id, where
//!    the bucket has versioning). The objects under the prefix are listed
//!    and every one the cache lacks, or holds with another size, is
//!    downloaded (to a temporary name, then renamed). Extract folders and
//!    facts files never change once written (a facts file's name carries
//!    its generation), so a file already in the cache is not fetched again.
//!    Facts folders the catalog does not name and `.staging/` are skipped.
//!    Last, the catalog is written into the cache by an atomic rename.
//! 2. The command runs on the cache as on a local store.
//! 3. **Push** (after `ingest` and `rebuild`, when the cache's catalog
//!    changed): every file that is new or was rewritten since the pull is
//!    uploaded first; then `catalog.json` is replaced with a conditional
//!    put: `If-Match` on the ETag read at the pull (`PutMode::Update`), or
//!    `If-None-Match: *` when the store had no catalog yet
//!    (`PutMode::Create`). That put is the one commit point. If another
//!    ingest committed in between, S3 answers 412 and the command fails
//!    with a clear message: its uploads are named by no catalog, so no
//!    reader sees them, and the next ingest's clean-up leaves them out.
//!    Only after the commit are the objects removed that were listed at the
//!    pull and that the local ingest removed (an uncommitted leftover, or
//!    a facts file superseded more than 15 minutes before).
//!
//! Two processes sharing one cache folder are kept apart by a lock file in
//! the cache: exclusive from pull to push for a writer, shared during the
//! pull for a reader. Two writers on different machines (or caches) are
//! kept apart by the conditional put alone: at most one of two ingests
//! that pulled the same catalog can commit.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use sha2::{Digest, Sha256};

const CATALOG: &str = "catalog.json";
const CACHE_LOCK: &str = ".cache.lock";
/// The ETag of each object as last pulled or pushed, so that a file the
/// cache holds is known to be the object's current content.
const ETAGS: &str = ".cache-etags.json";

/// `s3://bucket/prefix` split into bucket and prefix (no slashes at the
/// ends), or `None` for anything else (a local folder).
pub fn parse_url(s: &str) -> Option<(String, String)> {
    let rest = s.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.trim_matches('/').to_string()))
}

/// An S3 client for a bucket, configured from the `AWS_*` variables.
pub fn s3_client(bucket: &str) -> Result<Arc<dyn ObjectStore>> {
    s3_client_with(bucket, &[])
}

/// `s3_client` with settings of `object_store`'s S3 builder (such as
/// `aws_endpoint`) that override the variables.
fn s3_client_with(bucket: &str, settings: &[(&str, &str)]) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for (key, value) in settings {
        builder = builder.with_config(key.parse()?, *value);
    }
    Ok(Arc::new(builder.build()?))
}

/// Files of the cache that are not part of the store.
fn is_local_only(rel: &str) -> bool {
    rel == ".lock"
        || rel == CACHE_LOCK
        || rel == ETAGS
        || rel == "catalog.json.tmp"
        || rel.starts_with(".staging/")
        || rel.contains(".vigil-part")
}

/// A store on object storage, pulled into a local cache folder.
pub struct Remote {
    url: String,
    objects: Arc<dyn ObjectStore>,
    prefix: String,
    cache: PathBuf,
    /// The catalog's version as pulled (`None`: the store had none).
    catalog_version: Option<UpdateVersion>,
    catalog_bytes: Option<Vec<u8>>,
    /// The keys listed at the pull, with their sizes.
    listed: BTreeMap<String, u64>,
    /// The cache's files right after the pull: size and modification time.
    pulled: BTreeMap<String, (u64, SystemTime)>,
    _lock: File,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The cache folder of a store URL under `cache_root`: one per bucket,
/// prefix and endpoint.
pub fn cache_dir(cache_root: &Path, url: &str) -> PathBuf {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{endpoint}\n{url}").as_bytes());
    let bucket = parse_url(url).map(|(b, _)| b).unwrap_or_default();
    cache_root.join(format!("{bucket}-{}", &hex::encode(digest)[..16]))
}

/// The default cache root: `$XDG_CACHE_HOME/vigil`, `~/.cache/vigil`, or
/// the temporary folder.
pub fn default_cache_root() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("vigil");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("vigil");
    }
    std::env::temp_dir().join("vigil-cache")
}

impl Remote {
    /// Pulls the store at `url` into `cache` (created if needed). A writer
    /// keeps the cache locked until `push`; `must_exist` fails for a store
    /// without a catalog.
    pub fn pull(url: &str, cache: &Path, writer: bool, must_exist: bool) -> Result<Remote> {
        Remote::pull_with(url, cache, writer, must_exist, &[])
    }

    /// `pull` with settings of `object_store`'s S3 builder (such as
    /// `aws_endpoint`) that override the `AWS_*` variables.
    pub fn pull_with(
        url: &str,
        cache: &Path,
        writer: bool,
        must_exist: bool,
        settings: &[(&str, &str)],
    ) -> Result<Remote> {
        let (bucket, prefix) =
            parse_url(url).with_context(|| format!("'{url}' is not an s3://bucket/prefix URL"))?;
        fs::create_dir_all(cache)
            .with_context(|| format!("creating the cache folder {}", cache.display()))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cache.join(CACHE_LOCK))?;
        let busy = if writer {
            lock.try_lock().is_err()
        } else {
            lock.try_lock_shared().is_err()
        };
        if busy {
            eprintln!(
                "vigil: waiting for another command using the cache {}",
                cache.display()
            );
            if writer {
                lock.lock()?;
            } else {
                lock.lock_shared()?;
            }
        }
        let objects = s3_client_with(&bucket, settings)
            .with_context(|| format!("configuring access to {url} (AWS_* variables)"))?;
        let mut remote = Remote {
            url: url.to_string(),
            objects,
            prefix,
            cache: cache.to_path_buf(),
            catalog_version: None,
            catalog_bytes: None,
            listed: BTreeMap::new(),
            pulled: BTreeMap::new(),
            _lock: lock,
        };
        runtime()?.block_on(remote.pull_files())?;
        if must_exist && remote.catalog_bytes.is_none() {
            bail!("{url} is not a vigil store (no {CATALOG}); run `vigil ingest` first");
        }
        remote.pulled = local_files(cache)?;
        if !writer {
            // Readers need the lock only while the cache is filled.
            let _ = remote._lock.unlock();
        }
        Ok(remote)
    }

    /// The local folder the command works on.
    pub fn cache(&self) -> &Path {
        &self.cache
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    async fn pull_files(&mut self) -> Result<()> {
        let catalog_key = self.key(CATALOG);
        let catalog = match self.objects.get(&catalog_key).await {
            Ok(got) => {
                let version = UpdateVersion {
                    e_tag: got.meta.e_tag.clone(),
                    version: got.meta.version.clone(),
                };
                let bytes = got.bytes().await?;
                Some((version, bytes.to_vec()))
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}/{CATALOG}", self.url)),
        };
        let facts_dir = match &catalog {
            Some((_, bytes)) => serde_json::from_slice::<crate::store::Catalog>(bytes)
                .with_context(|| format!("{}/{CATALOG} is damaged", self.url))?
                .facts
                .map(|f| f.dir),
            None => None,
        };
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut etags = load_etags(&self.cache);
        let mut listing = self.objects.list(prefix.as_ref());
        let mut wanted = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta.with_context(|| format!("listing {}", self.url))?;
            let rel = match &prefix {
                Some(p) => match meta.location.prefix_match(p) {
                    Some(parts) => parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>(),
                    None => continue,
                },
                None => meta
                    .location
                    .parts()
                    .map(|p| p.as_ref().to_string())
                    .collect(),
            }
            .join("/");
            self.listed.insert(rel.clone(), meta.size);
            if rel == CATALOG || is_local_only(&rel) {
                continue;
            }
            if let Some(fact_dir) = rel.strip_prefix("facts/").and_then(|r| r.split('/').next())
                && facts_dir.as_deref() != Some(fact_dir)
            {
                continue;
            }
            let local = self.cache.join(&rel);
            let same_etag = meta.e_tag.is_none() || etags.get(&rel) == meta.e_tag.as_ref();
            if same_etag && fs::metadata(&local).is_ok_and(|m| m.len() == meta.size) {
                continue;
            }
            if let Some(tag) = &meta.e_tag {
                etags.insert(rel.clone(), tag.clone());
            }
            wanted.push((rel, meta.location));
        }
        let n = wanted.len();
        let objects = self.objects.clone();
        let cache = self.cache.clone();
        let mut downloads = futures::stream::iter(wanted.into_iter().map(|(rel, location)| {
            let objects = objects.clone();
            let target = cache.join(&rel);
            async move { download(objects.as_ref(), &location, &target).await }
        }))
        .buffer_unordered(8);
        while let Some(r) = downloads.next().await {
            r?;
        }
        save_etags(&self.cache, &etags)?;
        if n > 0 {
            tracing::info!(files = n, store = %self.url, "pulled into the cache");
        }
        if let Some((version, bytes)) = catalog {
            write_atomic(&self.cache.join(CATALOG), &bytes)?;
            self.catalog_version = Some(version);
            self.catalog_bytes = Some(bytes);
        }
        Ok(())
    }

    /// Uploads what the command wrote and commits the cache's catalog with
    /// a conditional put; nothing to do when the catalog is unchanged.
    /// Returns whether a new catalog was committed.
    pub fn push(&self) -> Result<bool> {
        let path = self.cache.join(CATALOG);
        let Ok(bytes) = fs::read(&path) else {
            return Ok(false);
        };
        if self.catalog_bytes.as_deref() == Some(bytes.as_slice()) {
            return Ok(false);
        }
        runtime()?.block_on(self.push_files(bytes))?;
        Ok(true)
    }

    async fn upload(&self, uploads: &[String]) -> Result<()> {
        let mut puts = futures::stream::iter(uploads.iter().map(|rel| {
            let location = self.key(rel);
            let file = self.cache.join(rel);
            async move {
                let bytes =
                    fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                let put = self
                    .objects
                    .put(&location, PutPayload::from(bytes))
                    .await
                    .with_context(|| format!("uploading {location}"))?;
                anyhow::Ok((rel.clone(), put.e_tag))
            }
        }))
        .buffer_unordered(8);
        let mut etags = load_etags(&self.cache);
        while let Some(r) = puts.next().await {
            let (rel, tag) = r?;
            match tag {
                Some(tag) => etags.insert(rel, tag),
                None => etags.remove(&rel),
            };
        }
        save_etags(&self.cache, &etags)?;
        Ok(())
    }

    async fn push_files(&self, catalog: Vec<u8>) -> Result<()> {
        let now = local_files(&self.cache)?;
        let uploads: Vec<String> = now
            .iter()
            .filter(|(rel, stamp)| {
                rel.as_str() != CATALOG && self.pulled.get(rel.as_str()) != Some(*stamp)
            })
            .map(|(rel, _)| rel.clone())
            .collect();
        // Extract and facts files first (no catalog names them yet); the
        // store's other files (the alert state) only once committed.
        let (files, state): (Vec<String>, Vec<String>) = uploads
            .into_iter()
            .partition(|rel| rel.starts_with("extracts/") || rel.starts_with("facts/"));
        self.upload(&files).await?;
        crate::store::failpoint("before-remote-catalog");
        let mode = match &self.catalog_version {
            Some(v) => PutMode::Update(v.clone()),
            None => PutMode::Create,
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .objects
            .put_opts(&self.key(CATALOG), PutPayload::from(catalog), opts)
            .await
        {
            Ok(_) => {}
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => bail!(
                "another ingest committed to {} after this one started: nothing of this one is \
                 visible there; run it again",
                self.url
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("committing {}/{CATALOG}", self.url));
            }
        }
        self.upload(&state).await?;
        tracing::info!(files = files.len() + state.len(), store = %self.url, "committed");
        // Committed: remove what the local command removed (leftovers and
        // superseded facts files). A failure here only leaves garbage.
        for rel in self.listed.keys() {
            if rel != CATALOG
                && self.pulled.contains_key(rel)
                && !now.contains_key(rel)
                && let Err(e) = self.objects.delete(&self.key(rel)).await
            {
                tracing::warn!(object = %rel, error = %e, "could not remove");
            }
        }
        Ok(())
    }
}

async fn download(objects: &dyn ObjectStore, location: &ObjectPath, target: &Path) -> Result<()> {
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = target.with_file_name(format!(
        "{}.vigil-part{}",
        target.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let got = objects
        .get(location)
        .await
        .with_context(|| format!("downloading {location}"))?;
    let mut stream = got.into_stream();
    {
        let mut f = File::create(&tmp)?;
        while let Some(chunk) = stream.next().await {
            f.write_all(&chunk.with_context(|| format!("downloading {location}"))?)?;
        }
        f.sync_all()?;
    }
    fs::rename(&tmp, target)?;
    Ok(())
}

fn load_etags(cache: &Path) -> BTreeMap<String, String> {
    fs::read(cache.join(ETAGS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn save_etags(cache: &Path, etags: &BTreeMap<String, String>) -> Result<()> {
    write_atomic(&cache.join(ETAGS), &serde_json::to_vec(etags)?)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("json.vigil-part{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    Ok(())
}

/// Every file of the store in a cache folder, by relative path with `/`.
fn local_files(root: &Path) -> Result<BTreeMap<String, (u64, SystemTime)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().to_string())
                .collect::<Vec<_>>()
                .join("/");
            if is_local_only(&rel) {
                continue;
            }
            out.insert(rel, (meta.len(), meta.modified()?));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("s3://b/p/q/"),
            Some(("b".to_string(), "p/q".to_string()))
        );
        assert_eq!(parse_url("s3://b"), Some(("b".to_string(), String::new())));
        assert_eq!(parse_url("s3:///x"), None);
        assert_eq!(parse_url("store"), None);
        assert!(is_local_only(".staging/2026-10-31/cases.parquet"));
        assert!(!is_local_only("extracts/2026-10-31/cases.parquet"));
    }
}
