//! Checkpoints: a module's parameters and buffers as safetensors (f32, or
//! f16 on request), with a JSON sidecar naming the architecture and the
//! training config. Loading checks every name and shape and reports all
//! missing, extra and mis-shaped tensors in one error.
//!
//! Encoding and decoding work on bytes (wasm-friendly); the file functions
//! are native only and write atomically (temporary name, then rename).

use std::collections::{BTreeMap, HashMap};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::models::ArchSpec;
use crate::nn::{Module, ModuleExt};

/// A named tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Dotted name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Values.
    pub data: Vec<f32>,
}

/// Precision of the values written to a checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaveDtype {
    /// 32-bit floats (exact).
    #[default]
    F32,
    /// 16-bit floats (half the size; values rounded to f16).
    F16,
}

/// The JSON sidecar saved next to a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// Always `weakseg-checkpoint/1`.
    pub format: String,
    /// The architecture, when the checkpoint holds a whole network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<ArchSpec>,
    /// Number of output classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// The training configuration (free-form).
    #[serde(default)]
    pub config: serde_json::Value,
}

impl Sidecar {
    /// The format tag sidecars carry.
    pub const FORMAT: &'static str = "weakseg-checkpoint/1";

    /// A sidecar for `arch` with `classes` outputs and a config.
    pub fn new(
        arch: Option<ArchSpec>,
        classes: Option<usize>,
        config: serde_json::Value,
    ) -> Sidecar {
        Sidecar {
            format: Self::FORMAT.into(),
            arch,
            classes,
            config,
        }
    }

    /// A sidecar recording `settings` (the stage's settings struct) as its
    /// config; `stage` names the stage in the error if they cannot be
    /// written as JSON.
    pub fn with_settings(
        arch: Option<ArchSpec>,
        classes: Option<usize>,
        settings: &impl Serialize,
        stage: &str,
    ) -> Result<Sidecar> {
        let config =
            serde_json::to_value(settings).map_err(|e| Error::format(stage, e.to_string()))?;
        Ok(Sidecar::new(arch, classes, config))
    }
}

/// Serialises named tensors as safetensors bytes.
pub fn encode(tensors: &[HostTensor], dtype: SaveDtype) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|t| match dtype {
            SaveDtype::F32 => bytemuck::cast_slice(&t.data).to_vec(),
            SaveDtype::F16 => t
                .data
                .iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect(),
        })
        .collect();
    let st_dtype = match dtype {
        SaveDtype::F32 => Dtype::F32,
        SaveDtype::F16 => Dtype::F16,
    };
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            TensorView::new(st_dtype, t.shape.clone(), b)
                .map(|v| (t.name.clone(), v))
                .map_err(|e| Error::format(format!("tensor {}", t.name), e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| Error::format("safetensors", e.to_string()))
}

/// Parses safetensors bytes into f32 tensors (F32, F16, BF16 and F64 are
/// converted). Integer tensors, such as torchvision's
/// `num_batches_tracked`, are skipped; a NaN or infinite value is an
/// error naming the tensor. `what` names the source in errors.
pub fn decode(bytes: &[u8], what: &str) -> Result<Vec<HostTensor>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| Error::format(what, format!("not a valid safetensors file: {e}")))?;
    let mut out = Vec::new();
    for (name, view) in st.iter() {
        let raw = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::F64 => raw
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
            other => {
                return Err(Error::format(
                    what,
                    format!("tensor {name} has unsupported dtype {other:?}"),
                ));
            }
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            // A diverged run's weights would load and predict garbage.
            return Err(Error::format(
                what,
                format!(
                    "tensor {name} holds {} at flat index {i}: weights must be finite",
                    data[i]
                ),
            ));
        }
        out.push(HostTensor {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            data,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads a module's parameters and buffers back from the device.
pub async fn state_of(module: &dyn Module) -> Result<Vec<HostTensor>> {
    let mut out = Vec::new();
    for (name, t) in module.state() {
        out.push(HostTensor {
            name,
            shape: t.shape().to_vec(),
            data: t.to_vec::<f32>().await?,
        });
    }
    Ok(out)
}

/// How strictly [`apply`] matches names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Every module tensor must be present and every file tensor used.
    Strict,
    /// Load what matches by name (e.g. ImageNet weights without `fc` into a
    /// backbone); shapes must still agree.
    Partial,
}

/// What [`apply`] loaded and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Tensors loaded.
    pub loaded: usize,
    /// Module tensors the source lacked (only with [`Match::Partial`]).
    pub missing: Vec<String>,
    /// Source tensors the module has no slot for (only with [`Match::Partial`]).
    pub extra: Vec<String>,
}

/// Writes `tensors` into `module`'s parameters and buffers, under `prefix`
/// (e.g. `backbone.` to load ImageNet weights into a CAM network's trunk).
/// Shapes are checked before anything is written; the error lists every
/// missing, extra and mis-shaped tensor.
pub fn apply(
    module: &dyn Module,
    tensors: &[HostTensor],
    prefix: &str,
    mode: Match,
) -> Result<LoadReport> {
    let slots: BTreeMap<String, crate::Tensor> = module
        .state()
        .into_iter()
        .filter_map(|(n, t)| n.strip_prefix(prefix).map(|s| (s.to_string(), t)))
        .collect();
    let by_name: HashMap<&str, &HostTensor> =
        tensors.iter().map(|t| (t.name.as_str(), t)).collect();
    let missing: Vec<String> = slots
        .keys()
        .filter(|n| !by_name.contains_key(n.as_str()))
        .map(|n| format!("{prefix}{n}"))
        .collect();
    let extra: Vec<String> = tensors
        .iter()
        .filter(|t| !slots.contains_key(&t.name))
        .map(|t| t.name.clone())
        .collect();
    let mut misshaped = Vec::new();
    for (name, slot) in &slots {
        if let Some(t) = by_name.get(name.as_str()) {
            if t.shape.iter().product::<usize>() != t.data.len() || t.shape != slot.shape() {
                misshaped.push(format!(
                    "{prefix}{name}: file {:?}, model {:?}",
                    t.shape,
                    slot.shape()
                ));
            }
        }
    }
    let strict = mode == Match::Strict;
    if !misshaped.is_empty() || (strict && (!missing.is_empty() || !extra.is_empty())) {
        let mut msg = String::from("checkpoint does not fit the model");
        let mut list = |title: &str, v: &[String]| {
            if !v.is_empty() {
                msg.push_str(&format!("\n  {title} ({}): {}", v.len(), v.join(", ")));
            }
        };
        if strict {
            list("missing", &missing);
            list("extra", &extra);
        }
        list("mis-shaped", &misshaped);
        return Err(Error::format("load", msg));
    }
    let mut loaded = 0;
    for (name, slot) in &slots {
        if let Some(t) = by_name.get(name.as_str()) {
            slot.assign(&t.data)?;
            loaded += 1;
        }
    }
    Ok(LoadReport {
        loaded,
        missing,
        extra,
    })
}

/// The sidecar path of a checkpoint: `model.safetensors` → `model.json`.
pub fn sidecar_path(path: &std::path::Path) -> std::path::PathBuf {
    path.with_extension("json")
}

/// Saves `module` to `path` (safetensors) and its sidecar next to it.
#[cfg(not(target_arch = "wasm32"))]
pub fn save(
    path: &std::path::Path,
    module: &dyn Module,
    sidecar: &Sidecar,
    dtype: SaveDtype,
) -> Result<()> {
    let state = pollster::block_on(state_of(module))?;
    let json =
        serde_json::to_vec_pretty(sidecar).map_err(|e| Error::format("sidecar", e.to_string()))?;
    crate::io::write_atomic(path, &encode(&state, dtype)?)?;
    crate::io::write_atomic(&sidecar_path(path), &json)
}

/// Reads a safetensors file into host tensors.
#[cfg(not(target_arch = "wasm32"))]
pub fn read(path: &std::path::Path) -> Result<Vec<HostTensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    decode(&bytes, &path.display().to_string())
}

/// Reads only a safetensors file's header and checks that the tensors it
/// lists fill the file exactly: a run checks every weight file it is given
/// before its first stage, without reading the weights.
#[cfg(not(target_arch = "wasm32"))]
pub fn check_header(path: &std::path::Path) -> Result<()> {
    use std::io::Read;
    let io = |e: std::io::Error| Error::io(path.display(), e);
    let bad = |m: String| Error::format(path.display().to_string(), m);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let mut n = [0u8; 8];
    f.read_exact(&mut n).map_err(|_| {
        bad(format!(
            "not a safetensors file: {len} bytes, shorter than its header"
        ))
    })?;
    let n = u64::from_le_bytes(n);
    if n > len - 8 || n > 100 << 20 {
        return Err(bad(format!(
            "not a safetensors file: a header of {n} bytes in {len}"
        )));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header).map_err(io)?;
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| {
            bad(format!(
                "not a safetensors file: its header is not JSON ({e})"
            ))
        })?;
    let mut end = 0;
    for (name, t) in map.iter().filter(|(k, _)| *k != "__metadata__") {
        let stop = t
            .get("data_offsets")
            .and_then(|o| o.get(1))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| bad(format!("tensor {name} has no data_offsets")))?;
        end = end.max(stop);
    }
    if 8 + n + end != len {
        return Err(bad(format!(
            "the header lists {end} bytes of tensors, the file holds {} (cut short or padded)",
            len - 8 - n
        )));
    }
    Ok(())
}

/// Reads the sidecar of a checkpoint, if there is one.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_sidecar(path: &std::path::Path) -> Result<Option<Sidecar>> {
    let p = sidecar_path(path);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::format(p.display().to_string(), format!("bad sidecar: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(p.display(), e)),
    }
}

/// The architecture, class count and stage settings a checkpoint's sidecar
/// records: what a stage needs to rebuild the network it trained. A
/// missing sidecar, architecture or unreadable settings are errors naming
/// the file.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_settings<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<(ArchSpec, Option<usize>, T)> {
    let name = || path.display().to_string();
    let side = read_sidecar(path)?
        .ok_or_else(|| Error::format(name(), "no sidecar (.json) naming the architecture"))?;
    let arch = side
        .arch
        .ok_or_else(|| Error::format(name(), "sidecar lacks the architecture"))?;
    let settings = serde_json::from_value(side.config)
        .map_err(|e| Error::format(name(), format!("sidecar settings: {e}")))?;
    Ok((arch, side.classes, settings))
}

/// Loads a checkpoint file into `module` (strictly), returning its sidecar.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(path: &std::path::Path, module: &dyn Module) -> Result<Option<Sidecar>> {
    let tensors = read(path)?;
    apply(module, &tensors, "", Match::Strict)
        .map_err(|e| Error::format(path.display().to_string(), e.to_string()))?;
    read_sidecar(path)
}

/// Loads ImageNet weights into a network's `backbone.*` (tensors of the
/// file the backbone lacks, such as an ImageNet `fc`, are ignored; every
/// backbone tensor must be present with its shape).
#[cfg(not(target_arch = "wasm32"))]
pub fn load_backbone(net: &dyn Module, path: &std::path::Path) -> Result<()> {
    let report = apply(net, &read(path)?, "backbone.", Match::Partial)
        .map_err(|e| weakseg_kernels::Error::format(path.display().to_string(), e.to_string()))?;
    if !report.missing.is_empty() {
        return Err(weakseg_kernels::Error::format(
            path.display().to_string(),
            format!("lacks backbone tensors: {}", report.missing.join(", ")),
        ));
    }
    Ok(())
}
