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

/// The op codes a WGSL `switch` or comparison tests, each annotated with
/// the name of its Rust variant (`case 3u: { … } // Exp`), in `src`'s
/// functions `fns` (every function when empty): (code, name, line).
fn annotated_codes(src: &str, fns: &[&str]) -> Vec<(u32, String, String)> {
    let mut current = "";
    let mut out = Vec::new();
    for line in src.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("fn ") {
            current = rest.split('(').next().unwrap_or("");
        }
        if !fns.is_empty() && !fns.contains(&current) {
            continue;
        }
        let code = t
            .strip_prefix("case ")
            .or_else(|| t.find("OP == ").map(|i| &t[i + 6..]))
            .and_then(|r| r.split('u').next())
            .and_then(|n| n.parse::<u32>().ok());
        let name = line.rsplit_once("// ").map(|(_, n)| n.trim().to_string());
        if let Some(code) = code {
            out.push((code, name.unwrap_or_default(), line.trim().to_string()));
        }
    }
    out
}

#[test]
fn wgsl_op_codes_match_the_rust_enums() {
    use weakseg_kernels::launch::elementwise::{Binary, Unary};
    use weakseg_kernels::launch::reduce::Reduce;
    let src = Shader::Elementwise.source();
    let check = |what: &str, found: Vec<(u32, String, String)>, names: Vec<String>, all: bool| {
        if all {
            assert_eq!(found.len(), names.len(), "{what}: one case per variant");
        }
        for (code, name, line) in found {
            let want = names.get(code as usize).map(String::as_str);
            assert_eq!(Some(name.as_str()), want, "{what}: `{line}`");
        }
    };
    check(
        "unary_op",
        annotated_codes(src, &["unary_op"]),
        Unary::ALL.iter().map(|u| format!("{u:?}")).collect(),
        true,
    );
    check(
        "binary_op",
        annotated_codes(src, &["binary_op"]),
        Binary::ALL.iter().map(|b| format!("{b:?}")).collect(),
        true,
    );
    for (i, u) in Unary::ALL.iter().enumerate() {
        assert_eq!(*u as usize, i, "Unary::ALL out of code order");
    }
    for (i, b) in Binary::ALL.iter().enumerate() {
        assert_eq!(*b as usize, i, "Binary::ALL out of code order");
    }
    // reduce.wgsl's other kernels give OP other meanings: only the two
    // reductions' annotated codes are Reduce's.
    let reduce: Vec<_> = annotated_codes(Shader::Reduce.source(), &["reduce", "reduce_partial"])
        .into_iter()
        .filter(|(_, name, _)| !name.is_empty())
        .collect();
    assert_eq!(reduce.len(), 7, "{reduce:?}");
    check(
        "reduce",
        reduce,
        Reduce::ALL.iter().map(|r| format!("{r:?}")).collect(),
        false,
    );
    for (i, r) in Reduce::ALL.iter().enumerate() {
        assert_eq!(*r as usize, i, "Reduce::ALL out of code order");
    }
}
