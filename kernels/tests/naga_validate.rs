//! Every WGSL file under `shaders/` parses and validates with naga, without a
//! device: the prelude, the subgroup tile and the convolutions' shared part,
//! and each family as the engine compiles it (prelude, then the shared
//! parts it takes, then its file).

use weakseg_kernels::shaders::{CONV_COMMON, PRELUDE, SUBGROUP_TILE, Shader};

fn validate(name: &str, src: &str) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: parse error\n{}", e.emit_to_string(src)));
    let mut v = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    );
    if let Err(e) = v.validate(&module) {
        panic!("{name}: validation error\n{}", e.emit_to_string(src));
    }
}

#[test]
fn prelude_validates() {
    validate("prelude.wgsl", PRELUDE);
}

#[test]
fn subgroup_tile_validates() {
    validate("subgroup_tile.wgsl", SUBGROUP_TILE);
}

#[test]
fn conv_common_validates() {
    validate("conv_common.wgsl", &format!("{PRELUDE}\n{CONV_COMMON}"));
}

#[test]
fn every_family_validates() {
    for s in Shader::ALL {
        validate(s.file(), s.source());
    }
}

#[test]
fn every_file_in_shaders_dir_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shaders");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .expect("shaders/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    files.sort();
    let mut known: Vec<String> = Shader::ALL.iter().map(|s| s.file().to_string()).collect();
    known.push("prelude.wgsl".into());
    known.push("subgroup_tile.wgsl".into());
    known.push("conv_common.wgsl".into());
    known.sort();
    assert_eq!(
        files, known,
        "every .wgsl file must be a registered kernel family"
    );
}
