//! Stage bookkeeping: a manifest (`stage.json` in the stage's directory)
//! records a fingerprint of the stage's settings and the content of its
//! inputs ([`fingerprint`](crate::pipeline::fingerprint)), its time, and
//! each output's size, modification time and content hash. A re-run with
//! the same fingerprint whose outputs verify is skipped: sizes are always
//! checked, and an output whose modification time moved is hashed again.
//! Anything else runs the stage again, and says why. A stage that works
//! item by item keeps a [`Journal`] of the items it finished, so an
//! interrupted run resumes at the first unfinished item, and a run whose
//! outputs were damaged redoes only the damaged items.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::io::labels::{self, LabelMap};
use crate::io::write_atomic;
use crate::pipeline::fingerprint::{self, Input, Part};
use crate::pipeline::results::StageResults;
use crate::train::TrainConfig;

/// What a finished stage left behind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The stage's name.
    pub stage: String,
    /// Hex fingerprint of settings and inputs.
    pub fingerprint: String,
    /// The fingerprint's parts, so a later run can say what changed
    /// (absent in manifests of earlier versions).
    #[serde(default)]
    pub inputs: Vec<Part>,
    /// Wall-clock seconds the stage took.
    pub seconds: f64,
    /// Output files, relative to the stage directory.
    pub outputs: Vec<Output>,
    /// What the stage measured (scores, losses).
    #[serde(default, deserialize_with = "StageResults::null_as_empty")]
    pub results: StageResults,
    /// Whether this call skipped the stage (an identical run had finished).
    #[serde(skip)]
    pub skipped: bool,
    /// Why this call ran the stage although an earlier run had finished in
    /// its directory (changed inputs, damaged outputs), for the user.
    #[serde(skip)]
    pub rerun: Option<String>,
}

/// One output file as the finished run left it. Manifests of earlier
/// versions list bare names; those outputs are checked for existence only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "OutputForm")]
pub struct Output {
    /// The path, relative to the stage directory.
    pub path: String,
    /// Its size in bytes.
    pub size: Option<u64>,
    /// Its modification time (ns since the epoch) when the run finished.
    pub modified_ns: Option<u64>,
    /// The xxh3 hash of its content (hex).
    pub xxh3: Option<String>,
}

/// The forms an output takes in `stage.json`: a bare name (earlier
/// versions) or a record.
#[derive(Deserialize)]
#[serde(untagged)]
enum OutputForm {
    Name(String),
    Record {
        path: String,
        size: Option<u64>,
        modified_ns: Option<u64>,
        xxh3: Option<String>,
    },
}

impl From<OutputForm> for Output {
    fn from(f: OutputForm) -> Output {
        match f {
            OutputForm::Name(path) => Output {
                path,
                size: None,
                modified_ns: None,
                xxh3: None,
            },
            OutputForm::Record {
                path,
                size,
                modified_ns,
                xxh3,
            } => Output {
                path,
                size,
                modified_ns,
                xxh3,
            },
        }
    }
}

impl Output {
    /// Records the file `path` (relative to `dir`) as it is now.
    fn record(dir: &Path, path: String) -> Result<Output> {
        let full = dir.join(&path);
        let meta = std::fs::metadata(&full).map_err(|e| Error::io(full.display(), e))?;
        Ok(Output {
            size: Some(meta.len()),
            modified_ns: fingerprint::modified_ns(&meta),
            xxh3: Some(format!("{:016x}", fingerprint::file_digest(&full)?)),
            path,
        })
    }

    /// What is wrong with the file now, if anything: missing, another
    /// size, or (when its modification time moved, or `hash` is asked)
    /// another content.
    pub fn check(&self, dir: &Path, hash: bool) -> Option<String> {
        let full = dir.join(&self.path);
        let Ok(meta) = std::fs::metadata(&full) else {
            return Some("missing".into());
        };
        if let Some(size) = self.size.filter(|&s| s != meta.len()) {
            return Some(format!("{} bytes, the run wrote {size}", meta.len()));
        }
        let moved = self.modified_ns != fingerprint::modified_ns(&meta);
        match &self.xxh3 {
            Some(want) if hash || moved => match fingerprint::file_digest(&full) {
                Ok(d) if format!("{d:016x}") == *want => None,
                Ok(_) => Some("content changed since the run".into()),
                Err(e) => Some(e.to_string()),
            },
            _ => None,
        }
    }
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

/// A stage about to run in `dir`. It holds the directory's lock
/// ([`LOCK_FILE`]) until dropped, so a second run into the same directory
/// is refused instead of interleaving its outputs with this one's.
pub struct Stage {
    name: String,
    dir: PathBuf,
    fingerprint: String,
    parts: Vec<Part>,
    rerun: Option<String>,
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
    /// (as JSON) and the content of its inputs; an input that cannot be
    /// read is an error that names it.
    pub fn new(
        name: &str,
        dir: &Path,
        settings: &impl Serialize,
        inputs: &[Input],
    ) -> Result<Stage> {
        let json = serde_json::to_vec(settings)
            .map_err(|e| Error::format(name.to_string(), e.to_string()))?;
        let parts = fingerprint::parts(&json, inputs)?;
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
            fingerprint: fingerprint::combine(name, &parts),
            parts,
            rerun: None,
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

    /// The manifest of an earlier identical run whose outputs verify (see
    /// [`Output::check`]), or `None`: the stage must run. When an earlier
    /// run finished here, the reason is kept for the manifest's `rerun`;
    /// when only some outputs are damaged, the items whose outputs all
    /// verify (outputs named after an item's id) go into the journal, so a
    /// per-item stage redoes only the others.
    pub fn done(&mut self) -> Result<Option<Manifest>> {
        let Ok(bytes) = std::fs::read(self.dir.join("stage.json")) else {
            return Ok(None);
        };
        let Ok(mut m) = serde_json::from_slice::<Manifest>(&bytes) else {
            self.rerun = Some("the earlier run's stage.json could not be read".into());
            return Ok(None);
        };
        if m.fingerprint != self.fingerprint {
            let what = if m.inputs.is_empty() {
                "the earlier run's stage.json predates content fingerprints".to_string()
            } else {
                format!(
                    "changed since the earlier run: {}",
                    fingerprint::changed(&m.inputs, &self.parts).join(", ")
                )
            };
            self.rerun = Some(what);
            return Ok(None);
        }
        let bad: Vec<(&Output, String)> = m
            .outputs
            .iter()
            .filter_map(|o| o.check(&self.dir, false).map(|why| (o, why)))
            .collect();
        if bad.is_empty() {
            m.skipped = true;
            return Ok(Some(m));
        }
        let item = |o: &Output| {
            Path::new(&o.path)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        };
        let damaged: HashSet<String> = bad.iter().filter_map(|(o, _)| item(o)).collect();
        // One write for the whole journal (VOC's CAM stage has 10,582
        // items; a synced append each would cost seconds).
        let mut sound: Vec<String> = m
            .outputs
            .iter()
            .filter_map(item)
            .filter(|id| !damaged.contains(id))
            .collect();
        sound.sort_unstable();
        sound.dedup();
        let text: String = sound.iter().map(|id| format!("{id}\n")).collect();
        write_atomic(&self.journal_path(), text.as_bytes())?;
        let shown: Vec<String> = bad
            .iter()
            .take(3)
            .map(|(o, why)| format!("{} ({why})", o.path))
            .collect();
        let more = bad.len().saturating_sub(shown.len());
        self.rerun = Some(format!(
            "{} of the earlier run's {} outputs damaged: {}{}",
            bad.len(),
            m.outputs.len(),
            shown.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
        Ok(None)
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
        self,
        seconds: f64,
        outputs: Vec<String>,
        results: StageResults,
    ) -> Result<Manifest> {
        let outputs = outputs
            .into_iter()
            .map(|o| Output::record(&self.dir, o))
            .collect::<Result<Vec<_>>>()?;
        let m = Manifest {
            stage: self.name.clone(),
            fingerprint: self.fingerprint.clone(),
            inputs: self.parts.clone(),
            seconds,
            outputs,
            results,
            skipped: false,
            rerun: self.rerun.clone(),
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

/// Checks every output the finished stage in `dir` recorded, hashing each
/// one (a skip hashes only those whose modification time moved): returns
/// the damaged outputs with what is wrong. With `remove`, they are deleted
/// while the directory's lock is held, so the stage's next run redoes
/// their items. A directory without a readable `stage.json` is an error
/// naming it.
pub fn verify(dir: &Path, remove: bool) -> Result<Vec<(String, String)>> {
    let path = dir.join("stage.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(path.display(), e))?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| Error::format(path.display().to_string(), e.to_string()))?;
    let _lock = if remove {
        Some(DirLock::acquire(dir)?)
    } else {
        None
    };
    let mut damaged = Vec::new();
    for o in &m.outputs {
        if let Some(why) = o.check(dir, true) {
            let file = dir.join(&o.path);
            if remove && file.is_file() {
                std::fs::remove_file(&file).map_err(|e| Error::io(file.display(), e))?;
            }
            damaged.push((o.path.clone(), why));
        }
    }
    Ok(damaged)
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
