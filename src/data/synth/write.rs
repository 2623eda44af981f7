//! Writing a synthetic benchmark to disk in the PASCAL VOC layout.

use std::path::Path;

use weakseg_kernels::{Error, Result};

use super::{SynthConfig, render};
use crate::data::annotations::MarksFile;
use crate::io::labels;
use crate::io::write_atomic;

/// File name of the points/scribbles JSON at the dataset root.
pub const MARKS_FILE: &str = "points_scribbles.json";

/// File name of the settings a benchmark was written with.
pub const SETTINGS_FILE: &str = "synth.json";

/// The settings the benchmark under `dir` was written with, or `None`
/// where none was written there. The file is parsed, not compared as text,
/// so one written before a field existed reads as that field's default (a
/// benchmark from before the scenes reads as parts). An unreadable or
/// corrupt file is an error naming it.
pub fn written(dir: &Path) -> Result<Option<SynthConfig>> {
    let path = dir.join(SETTINGS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::format("synth", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path.display(), e)),
    }
}

fn jpeg(img: &crate::io::image::Rgb) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode(
            &img.data,
            img.width as u32,
            img.height as u32,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| Error::format("synth", format!("JPEG encoding failed: {e}")))?;
    Ok(out)
}

/// Whether the benchmark `cfg` is already written under `dir`: `true` when
/// its settings file says so, `false` when `dir` is absent or empty. A
/// folder holding a benchmark of other settings, or anything else, is an
/// error naming it: writing over it would leave files of the old contents
/// beside the new (images past the new count, stages computed on the old
/// images).
pub fn already_written(cfg: &SynthConfig, dir: &Path) -> Result<bool> {
    if let Some(have) = written(dir)? {
        if have == *cfg {
            return Ok(true);
        }
        return Err(Error::invalid(
            "synth",
            format!(
                "{} holds a benchmark written with other settings ({have:?}, not {cfg:?}); \
                 what was computed on it would go stale: use a fresh --out",
                dir.join(SETTINGS_FILE).display()
            ),
        ));
    }
    let occupied = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(Error::io(dir.display(), e)),
    };
    if occupied {
        return Err(Error::invalid(
            "synth",
            format!(
                "{} is not empty and holds no synthetic benchmark ({SETTINGS_FILE}): \
                 use a fresh --out",
                dir.display()
            ),
        ));
    }
    Ok(false)
}

/// Writes the benchmark under `out`: JPEGImages/ID.jpg,
/// SegmentationClass/ID.png (VOC palette), SegmentationClassAug/ID.png
/// (grey), Annotations/ID.xml, ImageSets/Segmentation/{train,val,trainval}.txt,
/// classes.txt, points_scribbles.json and [`SETTINGS_FILE`] (the settings). Every
/// file is written under a temporary name and renamed. `progress` is called
/// with the number of images done.
pub fn write(cfg: &SynthConfig, out: &Path, mut progress: impl FnMut(usize)) -> Result<()> {
    cfg.validate()?;
    let classes = cfg.class_list();
    let mut marks = MarksFile::default();
    let total = cfg.train + cfg.val;
    for i in 0..total {
        let img = render(cfg, i);
        let id = &img.id;
        write_atomic(&out.join(format!("JPEGImages/{id}.jpg")), &jpeg(&img.rgb)?)?;
        write_atomic(
            &out.join(format!("SegmentationClass/{id}.png")),
            &labels::encode(&img.mask)?,
        )?;
        write_atomic(
            &out.join(format!("SegmentationClassAug/{id}.png")),
            &labels::encode_grey(&img.mask)?,
        )?;
        write_atomic(
            &out.join(format!("Annotations/{id}.xml")),
            img.xml.to_xml(id, &classes).as_bytes(),
        )?;
        marks.images.insert(img.id.clone(), img.marks);
        progress(i + 1);
    }
    let list =
        |r: std::ops::Range<usize>| -> String { r.map(|i| format!("{}\n", cfg.id(i))).collect() };
    let sets = out.join("ImageSets/Segmentation");
    write_atomic(&sets.join("train.txt"), list(0..cfg.train).as_bytes())?;
    write_atomic(&sets.join("val.txt"), list(cfg.train..total).as_bytes())?;
    write_atomic(&sets.join("trainval.txt"), list(0..total).as_bytes())?;
    write_atomic(&out.join("classes.txt"), classes.to_text().as_bytes())?;
    write_atomic(&out.join(MARKS_FILE), pretty(&marks)?.as_bytes())?;
    write_atomic(&out.join(SETTINGS_FILE), pretty(cfg)?.as_bytes())?;
    Ok(())
}

fn pretty<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::format("synth", e.to_string()))
}
