//! What a stage's fingerprint covers: its settings and the content of its
//! inputs, never their paths. A stage re-runs when an image, a label, a
//! list or an upstream output changes in place, and skips when a copied or
//! moved tree holds the same bytes. Each input is a named [`Part`], so a
//! re-run can say which of them changed.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};
use xxhash_rust::xxh3::Xxh3;

use crate::data::voc::parse_list;
use crate::pipeline::stage::LOCK_FILE;

/// Files in a dataset or mask folder at least this large are identified by
/// size and modification time instead of content (archives left beside a
/// dataset, say), as JPEG images always are.
pub const CONTENT_LIMIT: u64 = 64 << 20;

/// One input of a stage.
#[derive(Clone, Debug)]
pub enum Input {
    /// A file the stage reads whole (a checkpoint, an upstream stage's
    /// `stage.json`, which records its outputs' hashes): its content.
    File(PathBuf),
    /// The dataset at `root` as far as the list file `list` names it: the
    /// list's content, the files at the root's top level (classes, marks,
    /// settings), and in each sub-folder the files named after a listed id
    /// (images by size and modification time, annotations and masks by
    /// content).
    Data {
        /// The dataset root.
        root: PathBuf,
        /// The list file.
        list: PathBuf,
    },
    /// The files in `dir` and its sub-folders named after an id of the list
    /// file `list` (masks from outside a stage), hashed as a dataset's
    /// sub-folder is.
    Folder {
        /// The folder.
        dir: PathBuf,
        /// The list file.
        list: PathBuf,
    },
}

impl Input {
    /// A file read whole.
    pub fn file(path: &Path) -> Input {
        Input::File(path.to_path_buf())
    }

    /// The dataset at `root` as the list file `list` names it.
    pub fn data(root: &Path, list: &Path) -> Input {
        Input::Data {
            root: root.to_path_buf(),
            list: list.to_path_buf(),
        }
    }

    /// An output folder of an earlier stage: the `stage.json` of the stage
    /// that wrote it (in `dir` or its parent, for a stage's sub-folder such
    /// as `rw/`), which records its outputs' hashes; else, for files from
    /// elsewhere, those named after the list's ids.
    pub fn upstream(dir: &Path, list: &Path) -> Input {
        [
            dir.join("stage.json"),
            dir.parent().unwrap_or(dir).join("stage.json"),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .map_or_else(
            || Input::Folder {
                dir: dir.to_path_buf(),
                list: list.to_path_buf(),
            },
            Input::File,
        )
    }
}

/// A named digest: one input, or one folder of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// What it covers, for messages ("settings", "data JPEGImages/",
    /// "2-cam/stage.json").
    pub name: String,
    /// Its 64-bit digest in hex.
    pub digest: String,
}

/// The parts of a stage's fingerprint: its settings (as JSON), then each
/// input's parts in order. An input that cannot be read is an error naming
/// it.
pub fn parts(settings_json: &[u8], inputs: &[Input]) -> Result<Vec<Part>> {
    let mut out = vec![part(
        "settings".into(),
        xxhash_rust::xxh3::xxh3_64(settings_json),
    )];
    for input in inputs {
        match input {
            Input::File(path) => out.push(part(short_name(path), file_digest(path)?)),
            Input::Data { root, list } => {
                let ids = list_ids(list)?;
                out.push(part(
                    format!("list {}", short_name(list)),
                    file_digest(list)?,
                ));
                out.push(part("data top level".into(), top_level(root)?));
                for dir in sub_folders(root)? {
                    let name = dir
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    let digest = folder_digest(&dir, &ids)?;
                    if let Some(d) = digest {
                        out.push(part(format!("data {name}/"), d));
                    }
                }
            }
            Input::Folder { dir, list } => {
                unfinished_stage(dir)?;
                let ids = list_ids(list)?;
                let mut h = Xxh3::new();
                h.update(&folder_digest(dir, &ids)?.unwrap_or(0).to_le_bytes());
                for sub in sub_folders(dir)? {
                    h.update(&folder_digest(&sub, &ids)?.unwrap_or(0).to_le_bytes());
                }
                let digest = h.digest();
                out.push(part(format!("folder {}/", short_name(dir)), digest));
            }
        }
    }
    Ok(out)
}

/// The fingerprint of `parts` (hex): their digests in order, so two runs
/// whose settings and input contents agree share it wherever their files
/// live.
pub fn combine(name: &str, parts: &[Part]) -> String {
    let mut h = Xxh3::new();
    h.update(name.as_bytes());
    h.update(&(parts.len() as u64).to_le_bytes());
    for p in parts {
        h.update(p.digest.as_bytes());
    }
    format!("{:016x}", h.digest())
}

/// Which parts differ between an earlier run's `before` and `now`: names
/// of changed, added and removed parts, in `now`'s order.
pub fn changed(before: &[Part], now: &[Part]) -> Vec<String> {
    let mut names: Vec<String> = now
        .iter()
        .filter(|p| !before.iter().any(|b| b == *p))
        .map(|p| p.name.clone())
        .collect();
    names.extend(
        before
            .iter()
            .filter(|b| !now.iter().any(|p| p.name == b.name))
            .map(|b| format!("{} (gone)", b.name)),
    );
    names
}

/// The xxh3 digest of a file's content, read in blocks.
pub fn file_digest(path: &Path) -> Result<u64> {
    let io = |e: std::io::Error| Error::io(path.display(), e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(h.digest());
        }
        h.update(&buf[..n]);
    }
}

/// A file's modification time in nanoseconds since the epoch, where the
/// file system keeps one.
pub fn modified_ns(meta: &std::fs::Metadata) -> Option<u64> {
    let t = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(t.as_nanos()).ok()
}

/// Refuses an output folder of a stage that has not finished: one that
/// holds (or whose parent holds) a stage's lock, journal or resume folder
/// but no `stage.json`. Reading it would take a partial run's outputs.
fn unfinished_stage(dir: &Path) -> Result<()> {
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let Ok(read) = std::fs::read_dir(d) else {
            continue;
        };
        let marks = read.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name == LOCK_FILE || name.starts_with("done-") || name.starts_with("resume-")
        });
        if marks && !d.join("stage.json").exists() {
            return Err(Error::invalid(
                "stage",
                format!(
                    "{} holds a stage that has not finished (no stage.json): run it to the end first",
                    d.display()
                ),
            ));
        }
    }
    Ok(())
}

fn part(name: String, digest: u64) -> Part {
    Part {
        name,
        digest: format!("{digest:016x}"),
    }
}

/// The last two components of `path` ("1-classifier/classifier.safetensors").
fn short_name(path: &Path) -> String {
    let mut names: Vec<String> = path
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    names.reverse();
    names.join("/")
}

fn list_ids(list: &Path) -> Result<HashSet<String>> {
    let text = std::fs::read_to_string(list).map_err(|e| Error::io(list.display(), e))?;
    Ok(parse_list(&text).into_iter().collect())
}

/// The entries of `dir` sorted by name, hidden ones (`.weakseg.lock`,
/// `.DS_Store`) left out.
fn entries(dir: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>> {
    let io = |e: std::io::Error| Error::io(dir.display(), e);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|e| Error::io(path.display(), e))?;
        out.push((path, meta));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The dataset's sub-folders, leaving out any that holds a stage's outputs
/// (its `stage.json` or lock), which would change the fingerprint of the
/// stage writing there.
fn sub_folders(root: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(root)?
        .into_iter()
        .filter(|(p, m)| {
            m.is_dir() && !p.join("stage.json").exists() && !p.join(LOCK_FILE).exists()
        })
        .map(|(p, _)| p)
        .collect())
}

fn top_level(root: &Path) -> Result<u64> {
    let mut h = Xxh3::new();
    for (path, meta) in entries(root)? {
        if meta.is_file() {
            h.update(path.file_name().map_or(&[][..], |n| n.as_encoded_bytes()));
            h.update(&entry_digest(&path, &meta)?.to_le_bytes());
        }
    }
    Ok(h.digest())
}

/// The digest of the files in `dir` named after an id in `ids`, or `None`
/// when there is none.
fn folder_digest(dir: &Path, ids: &HashSet<String>) -> Result<Option<u64>> {
    let mut h = Xxh3::new();
    let mut any = false;
    for (path, meta) in entries(dir)? {
        let named = path
            .file_stem()
            .is_some_and(|s| ids.contains(s.to_string_lossy().as_ref()));
        if meta.is_file() && named {
            any = true;
            h.update(path.file_name().map_or(&[][..], |n| n.as_encoded_bytes()));
            h.update(&entry_digest(&path, &meta)?.to_le_bytes());
        }
    }
    Ok(any.then(|| h.digest()))
}

/// A dataset file's digest: JPEG images and files of [`CONTENT_LIMIT`] or
/// more by size and modification time (reading every image of VOC on
/// each stage would cost more than the check is worth), the rest by
/// content.
fn entry_digest(path: &Path, meta: &std::fs::Metadata) -> Result<u64> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "jpg" || ext == "jpeg" || meta.len() >= CONTENT_LIMIT {
        let mut h = Xxh3::new();
        h.update(&meta.len().to_le_bytes());
        h.update(&modified_ns(meta).unwrap_or(0).to_le_bytes());
        Ok(h.digest())
    } else {
        file_digest(path)
    }
}
