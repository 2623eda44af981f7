//! The readers a user feeds weakseg, each taking arbitrary bytes: the
//! bodies of the cargo-fuzz targets in `fuzz_targets/` and of the stable
//! smoke test `tests/readers_smoke.rs` (which includes this file). Each
//! must return for any input, never panic; an error is the expected answer
//! to most inputs.

use std::path::Path;

use weakseg::data::annotations::{MarksFile, VocXml};
use weakseg::data::classes::ClassList;
use weakseg::io::checkpoint::{self, Sidecar};
use weakseg::io::{image, labels, npy};
use weakseg::pipeline::run::PipelineConfig;

/// Every target by name (the names of `fuzz_targets/*.rs` and of the
/// corpus folders).
pub const TARGETS: &[(&str, fn(&[u8]))] = &[
    ("image", decode_image),
    ("label_png", decode_label_png),
    ("voc_xml", parse_voc_xml),
    ("marks_json", parse_marks_json),
    ("classes", parse_classes),
    ("npy", decode_npy),
    ("safetensors", decode_safetensors),
    ("sidecar", parse_sidecar),
    ("config_toml", parse_config_toml),
];

/// A JPEG or PNG through the image loader.
pub fn decode_image(data: &[u8]) {
    let _ = image::decode(data, "fuzz");
}

/// A label PNG (palette or grey) through the mask loader.
pub fn decode_label_png(data: &[u8]) {
    let _ = labels::decode(data, "fuzz");
}

/// A VOC annotation XML with VOC's classes.
pub fn parse_voc_xml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = VocXml::parse(text, &ClassList::voc(), "fuzz");
    }
}

/// A points-and-scribbles JSON file with VOC's classes.
pub fn parse_marks_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = MarksFile::parse(text, &ClassList::voc(), "fuzz");
    }
}

/// A `classes.txt`.
pub fn parse_classes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ClassList::parse(text, "fuzz");
    }
}

/// A `.npy` array, and the check every stage makes of its values.
pub fn decode_npy(data: &[u8]) {
    if let Ok(a) = npy::decode(data, "fuzz") {
        let _ = a.check_values(Path::new("fuzz"), true);
    }
}

/// A safetensors checkpoint.
pub fn decode_safetensors(data: &[u8]) {
    let _ = checkpoint::decode(data, "fuzz");
}

/// A checkpoint's JSON sidecar.
pub fn parse_sidecar(data: &[u8]) {
    let _ = serde_json::from_slice::<Sidecar>(data);
}

/// A `weakseg run` TOML configuration.
pub fn parse_config_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PipelineConfig::from_toml(text, "fuzz");
    }
}
