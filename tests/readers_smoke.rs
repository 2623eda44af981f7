//! The fuzz targets' bodies (`fuzz/src/lib.rs`) on their seed corpus and a
//! fixed set of mutations of it: the stable, seconds-long stand-in for
//! `cargo +nightly fuzz run` that CI runs. Every reader must return (an
//! error is fine) for every input; a panic fails the test and names the
//! target and the input's recipe.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// The corpus inputs of `target`, from `fuzz/corpus/<target>/`.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    files("corpus", target)
}

/// The files of `fuzz/<kind>/<target>/` (none for a target without
/// regressions).
fn files(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    if kind == "regressions" && !dir.exists() {
        return Vec::new();
    }
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Truncations at 17 points, and 300 mutants of 1–8 byte flips, inserts or
/// deletes each, drawn from a fixed seed.
fn mutants(seed: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for k in 0..=16 {
        let cut = seed.len() * k / 16;
        out.push((format!("cut at {cut}"), seed[..cut].to_vec()));
    }
    let mut r = SmallRng::seed_from_u64(7);
    for m in 0..300 {
        let mut v = seed.to_vec();
        for _ in 0..r.random_range(1..=8) {
            let at = r.random_range(0..=v.len());
            match r.random_range(0..3) {
                0 if at < v.len() => v[at] ^= 1 << r.random_range(0..8),
                1 => v.insert(at, r.random()),
                _ if at < v.len() => {
                    v.remove(at);
                }
                _ => {}
            }
        }
        out.push((format!("mutant {m}"), v));
    }
    out
}

#[test]
fn every_reader_survives_its_corpus_and_mutants() {
    for (name, target) in targets::TARGETS {
        let seeds = corpus(name);
        assert!(!seeds.is_empty(), "{name}: no corpus");
        for (file, seed) in &seeds {
            for (recipe, input) in
                std::iter::once(("as is".to_string(), seed.clone())).chain(mutants(seed))
            {
                let r = std::panic::catch_unwind(|| target(&input));
                assert!(r.is_ok(), "{name} panicked on {file}, {recipe}");
            }
        }
    }
}

#[test]
fn inputs_the_fuzzer_crashed_on_are_refused() {
    // Each file under fuzz/regressions/<target>/ once crashed its target
    // under `cargo fuzz run`; each must now be an error. The label PNG
    // declared 39×1 409 286 145 pixels in 286 bytes and aborted the
    // process allocating 55 GB.
    let mut seen = 0;
    for (name, target) in targets::TARGETS {
        for (file, bytes) in files("regressions", name) {
            let r = std::panic::catch_unwind(|| target(&bytes));
            assert!(r.is_ok(), "{name} panicked on {file}");
            seen += 1;
        }
    }
    assert!(seen >= 1);
    let png = files("regressions", "label_png");
    let e = weakseg::io::labels::decode(&png[0].1, "x.png")
        .err()
        .expect("the 55 GB header decoded")
        .to_string();
    assert!(e.contains("more than its 286 bytes can hold"), "{e}");
}

#[test]
fn the_corpus_seeds_are_valid_inputs() {
    // Seeds that already fail to parse would leave the fuzzer exploring
    // error paths only.
    use weakseg::data::annotations::{MarksFile, VocXml};
    use weakseg::data::classes::ClassList;
    let voc = ClassList::voc();
    for (file, bytes) in corpus("image") {
        weakseg::io::image::decode(&bytes, &file).unwrap();
    }
    for (file, bytes) in corpus("label_png") {
        weakseg::io::labels::decode(&bytes, &file).unwrap();
    }
    for (file, bytes) in corpus("voc_xml") {
        VocXml::parse(std::str::from_utf8(&bytes).unwrap(), &voc, &file).unwrap();
    }
    for (file, bytes) in corpus("marks_json") {
        MarksFile::parse(std::str::from_utf8(&bytes).unwrap(), &voc, &file).unwrap();
    }
    for (file, bytes) in corpus("npy") {
        weakseg::io::npy::decode(&bytes, &file).unwrap();
    }
    for (file, bytes) in corpus("safetensors") {
        weakseg::io::checkpoint::decode(&bytes, &file).unwrap();
    }
    for (file, bytes) in corpus("sidecar") {
        serde_json::from_slice::<weakseg::io::checkpoint::Sidecar>(&bytes)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    for (file, bytes) in corpus("config_toml") {
        weakseg::pipeline::run::PipelineConfig::from_toml(
            std::str::from_utf8(&bytes).unwrap(),
            &file,
        )
        .unwrap();
    }
    for (file, bytes) in corpus("classes") {
        ClassList::parse(std::str::from_utf8(&bytes).unwrap(), &file).unwrap();
    }
}
