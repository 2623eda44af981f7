//! Stage bookkeeping: a manifest (`stage.json` in the stage's directory)
//! records a fingerprint of the stage's settings and input files, its time
//! and its outputs. A re-run with the same fingerprint and all outputs
//! present is skipped; anything else runs the stage again. A stage that
//! works item by item keeps a [`Journal`] of the items it finished, so an
//! interrupted run resumes at the first unfinished item.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::io::labels::{self, LabelMap};
use crate::io::write_atomic;
use crate::pipeline::results::StageResults;
use crate::train::TrainConfig;

/// What a finished stage left behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The stage's name.
    pub stage: String,
    /// Hex fingerprint of settings and inputs.
    pub fingerprint: String,
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
    /// Output files, relative to the stage directory.
    pub outputs: Vec<String>,
    /// What the stage measured (scores, losses).
    #[serde(default, deserialize_with = "StageResults::null_as_empty")]
    pub results: StageResults,
    /// Whether this call skipped the stage (an identical run had finished).
    #[serde(skip)]
    pub skipped: bool,
}

/// Removes the temporary files an interrupted run left in `dir` and its
/// sub-folders: `write_atomic`'s `NAME.tmpPID` of another process. The
/// directory's lock is held, so no other process is writing there.
fn remove_stale_temps(dir: &Path) -> Result<()> {
    let own = format!(".tmp{}", std::process::id());
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(path.display(), e))?;
        if kind.is_dir() {
            remove_stale_temps(&path)?;
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.rfind(".tmp").is_some_and(|i| {
            let pid = &name[i + 4..];
            !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(&own)
        });
        if kind.is_file() && stale {
            std::fs::remove_file(&path).map_err(|e| Error::io(path.display(), e))?;
        }
    }
    Ok(())
}

/// 64-bit FNV-1a: change detection for settings and inputs (not security).
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// A stage about to run in `dir`. It holds the directory's lock
/// ([`LOCK_FILE`]) until dropped, so a second run into the same directory
/// is refused instead of interleaving its outputs with this one's.
pub struct Stage {
    name: String,
    dir: PathBuf,
    fingerprint: String,
    _lock: DirLock,
}

/// The lock file of a stage directory: the holder's process id.
pub const LOCK_FILE: &str = ".weakseg.lock";

/// An exclusive claim on a stage directory, released when dropped. A lock
/// left by a process that no longer runs (Linux: no `/proc/PID`) is taken
/// over; one held by this process is shared (a stage re-opened within one
/// run).
struct DirLock {
    path: PathBuf,
    owned: bool,
}

impl DirLock {
    fn acquire(dir: &Path) -> Result<DirLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir.display(), e))?;
        let path = dir.join(LOCK_FILE);
        let me = std::process::id();
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(me.to_string().as_bytes())
                        .map_err(|e| Error::io(path.display(), e))?;
                    return Ok(DirLock { path, owned: true });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(path.display(), e)),
            }
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok());
            match holder {
                Some(pid) if pid == me => return Ok(DirLock { path, owned: false }),
                Some(pid) if process_runs(pid) => {
                    return Err(Error::invalid(
                        "stage",
                        format!(
                            "{} is in use by process {pid} (its lock {}); wait for that run \
                             to end, or give this one another --out",
                            dir.display(),
                            path.display()
                        ),
                    ));
                }
                _ => {
                    // Left by a run that no longer exists (or cut short
                    // before it wrote its pid): take it over.
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Err(Error::invalid(
            "stage",
            format!(
                "{}: could not take the lock {}",
                dir.display(),
                path.display()
            ),
        ))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if self.owned {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Whether process `pid` runs. Where `/proc` is absent, every holder counts
/// as running (the error then says which lock to remove).
fn process_runs(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

impl Stage {
    /// The stage `name` writing into `dir`, fingerprinted by its settings
    /// (as JSON) and the contents of its input files; a missing input is an
    /// error that names it.
    pub fn new(
        name: &str,
        dir: &Path,
        settings: &impl Serialize,
        inputs: &[&Path],
    ) -> Result<Stage> {
        let json = serde_json::to_vec(settings)
            .map_err(|e| Error::format(name.to_string(), e.to_string()))?;
        let mut h = fnv(0xcbf2_9ce4_8422_2325, name.as_bytes());
        h = fnv(h, &json);
        for p in inputs {
            let bytes = std::fs::read(p).map_err(|e| Error::io(p.display(), e))?;
            h = fnv(h, p.to_string_lossy().as_bytes());
            h = fnv(h, &bytes);
        }
        if dir.join("JPEGImages").is_dir() {
            return Err(Error::invalid(
                "stage",
                format!(
                    "{} is a dataset root: give the {name} stage its own directory",
                    dir.display()
                ),
            ));
        }
        let lock = DirLock::acquire(dir)?;
        if let Some(other) = std::fs::read(dir.join("stage.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            .filter(|m| m.stage != name)
        {
            return Err(Error::invalid(
                "stage",
                format!(
                    "{} holds the outputs of the {} stage: give the {name} stage its own directory",
                    dir.display(),
                    other.stage
                ),
            ));
        }
        remove_stale_temps(dir)?;
        Ok(Stage {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            fingerprint: format!("{h:016x}"),
            _lock: lock,
        })
    }

    /// The fingerprint of settings and inputs (hex).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The stage directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The training loop's settings for a training stage: the loss log in
    /// the stage directory, and checkpoints that resume only a run with the
    /// same fingerprint (same settings and inputs).
    pub fn train_config(
        &self,
        epochs: usize,
        batch_size: usize,
        lr: f32,
        seed: u64,
    ) -> TrainConfig {
        TrainConfig {
            epochs,
            batch_size,
            lr,
            seed,
            log: Some(self.dir.join("loss.jsonl")),
            checkpoint_dir: Some(self.dir.join(format!("resume-{}", self.fingerprint))),
            resume: true,
            ..TrainConfig::default()
        }
    }

    /// Writes a label map as `name` (relative to the stage directory,
    /// atomically) and returns the name for the manifest's outputs.
    pub fn write_labels(&self, name: String, map: &LabelMap) -> Result<String> {
        labels::write(&self.dir.join(&name), map)?;
        Ok(name)
    }

    /// The manifest of an earlier identical run whose outputs all exist.
    pub fn done(&self) -> Option<Manifest> {
        let bytes = std::fs::read(self.dir.join("stage.json")).ok()?;
        let mut m: Manifest = serde_json::from_slice(&bytes).ok()?;
        m.skipped = true;
        (m.stage == self.name
            && m.fingerprint == self.fingerprint
            && m.outputs.iter().all(|o| self.dir.join(o).exists()))
        .then_some(m)
    }

    /// The journal of the items an interrupted run with this fingerprint
    /// finished (`done-FINGERPRINT.txt` in the stage directory, one id per
    /// line); empty on a first run or after settings or inputs changed.
    pub fn journal(&self) -> Result<Journal> {
        let path = self.journal_path();
        let done = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .split_inclusive('\n')
                .filter_map(|line| line.strip_suffix('\n'))
                .map(str::to_string)
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
            Err(e) => return Err(Error::io(path.display(), e)),
        };
        Ok(Journal { path, done })
    }

    fn journal_path(&self) -> PathBuf {
        self.dir.join(format!("done-{}.txt", self.fingerprint))
    }

    /// Records a finished run (atomically, after its outputs are written)
    /// and removes its journal and every training-resume folder
    /// (`resume-*`, twice a checkpoint's size each), which a finished stage
    /// no longer needs.
    pub fn finish(
        &self,
        seconds: f64,
        outputs: Vec<String>,
        results: StageResults,
    ) -> Result<Manifest> {
        let m = Manifest {
            stage: self.name.clone(),
            fingerprint: self.fingerprint.clone(),
            seconds,
            outputs,
            results,
            skipped: false,
        };
        let json = serde_json::to_vec_pretty(&m)
            .map_err(|e| Error::format(self.name.clone(), e.to_string()))?;
        write_atomic(&self.dir.join("stage.json"), &json)?;
        match std::fs::remove_file(self.journal_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(self.journal_path().display(), e));
            }
            _ => {}
        }
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io(self.dir.display(), e))?;
        for entry in entries.flatten() {
            let resume = entry.file_name().to_string_lossy().starts_with("resume-");
            if resume && entry.path().is_dir() {
                std::fs::remove_dir_all(entry.path())
                    .map_err(|e| Error::io(entry.path().display(), e))?;
            }
        }
        Ok(m)
    }
}

/// The items (image ids) a per-item stage has finished under one
/// fingerprint. An item is recorded only after all its outputs are written,
/// and a line cut short by an interruption is not read back, so a recorded
/// item's outputs are complete.
pub struct Journal {
    path: PathBuf,
    done: HashSet<String>,
}

impl Journal {
    /// Whether an earlier run finished `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.done.contains(id)
    }

    /// How many items earlier runs finished.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// Whether no earlier run finished any item.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Records `id` as finished (appended and synced before returning).
    pub fn record(&mut self, id: &str) -> Result<()> {
        let append = || -> std::io::Result<()> {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            f.write_all(format!("{id}\n").as_bytes())?;
            f.sync_data()
        };
        append().map_err(|e| Error::io(self.path.display(), e))?;
        self.done.insert(id.to_string());
        Ok(())
    }
}
