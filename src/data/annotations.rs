//! Per-image annotations beyond the mask: VOC XML (object names give the
//! image-level labels, `bndbox` the boxes) and the points/scribbles JSON.
//!
//! Coordinates are 0-based pixels inside the image. VOC XML stores boxes
//! 1-based and inclusive; reading subtracts 1 and writing adds it back.
//!
//! The points/scribbles file maps each image id to its objects:
//! `{"images": {"ID": [{"class": "cat", "points": [[x, y], ...],
//! "scribbles": [[[x, y], ...], ...]}, ...]}}`; class `background` marks
//! background strokes.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::classes::ClassList;

/// A bounding box, inclusive pixel bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoxLabel {
    /// Class label (1-based).
    pub class: u8,
    /// Left column.
    pub xmin: u32,
    /// Top row.
    pub ymin: u32,
    /// Right column (inclusive).
    pub xmax: u32,
    /// Bottom row (inclusive).
    pub ymax: u32,
}

/// One image's VOC XML: its size and objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VocXml {
    /// Image width.
    pub width: u32,
    /// Image height.
    pub height: u32,
    /// The objects.
    pub boxes: Vec<BoxLabel>,
}

impl VocXml {
    /// Sorted, deduplicated foreground labels (the image-level labels).
    pub fn labels(&self) -> Vec<u8> {
        let mut l: Vec<u8> = self.boxes.iter().map(|b| b.class).collect();
        l.sort_unstable();
        l.dedup();
        l
    }

    /// Parses VOC XML; an object of a class not in `classes` is an error.
    pub fn parse(text: &str, classes: &ClassList, what: &str) -> Result<VocXml> {
        let bad = |m: String| Error::format(what, m);
        let mut reader = quick_xml::Reader::from_str(text);
        reader.config_mut().trim_text(true);
        let mut path: Vec<String> = Vec::new();
        let (mut width, mut height) = (None, None);
        let mut boxes = Vec::new();
        let mut name: Option<String> = None;
        let mut bb = [None::<f64>; 4];
        loop {
            match reader.read_event() {
                Err(e) => return Err(bad(format!("malformed XML: {e}"))),
                Ok(Event::Eof) if path.is_empty() => break,
                Ok(Event::Eof) => {
                    return Err(bad(format!(
                        "the XML is cut short: <{}> is never closed",
                        path.join("/")
                    )));
                }
                Ok(Event::Start(e)) => {
                    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if tag == "object" {
                        name = None;
                        bb = [None; 4];
                    }
                    path.push(tag);
                }
                Ok(Event::End(e)) => {
                    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if tag == "object" {
                        let n = name
                            .take()
                            .ok_or_else(|| bad("an object has no <name>".into()))?;
                        let class = classes
                            .label(&n)
                            .filter(|&l| l > 0)
                            .ok_or_else(|| bad(format!("unknown class {n:?}")))?;
                        let [Some(x0), Some(y0), Some(x1), Some(y1)] = bb else {
                            return Err(bad(format!("object {n:?} has an incomplete <bndbox>")));
                        };
                        if x0 < 1.0 || y0 < 1.0 || x1 < x0 || y1 < y0 {
                            return Err(bad(format!(
                                "object {n:?} has an invalid box {x0},{y0},{x1},{y1}"
                            )));
                        }
                        boxes.push(BoxLabel {
                            class,
                            xmin: x0 as u32 - 1,
                            ymin: y0 as u32 - 1,
                            xmax: x1 as u32 - 1,
                            ymax: y1 as u32 - 1,
                        });
                    }
                    path.pop();
                }
                Ok(Event::Text(t)) => {
                    let v = t
                        .decode()
                        .map_err(|e| bad(format!("bad text: {e}")))?
                        .trim()
                        .to_string();
                    let num = || {
                        v.parse::<f64>().map_err(|_| {
                            bad(format!("<{}> is not a number: {v:?}", path.join("/")))
                        })
                    };
                    let p: Vec<&str> = path.iter().map(String::as_str).collect();
                    match p.as_slice() {
                        [.., "size", "width"] => width = Some(num()? as u32),
                        [.., "size", "height"] => height = Some(num()? as u32),
                        [.., "object", "name"] => name = Some(v.clone()),
                        [.., "object", "bndbox", c] => {
                            let i = match *c {
                                "xmin" => 0,
                                "ymin" => 1,
                                "xmax" => 2,
                                "ymax" => 3,
                                _ => continue,
                            };
                            bb[i] = Some(num()?.round());
                        }
                        _ => {}
                    }
                }
                Ok(_) => {}
            }
        }
        let (Some(width), Some(height)) = (width, height) else {
            return Err(bad("no <size> with <width> and <height>".into()));
        };
        Ok(VocXml {
            width,
            height,
            boxes,
        })
    }

    /// VOC-style XML for image `id` (1-based inclusive boxes).
    pub fn to_xml(&self, id: &str, classes: &ClassList) -> String {
        let mut s = format!(
            "<annotation>\n  <filename>{id}.jpg</filename>\n  <size>\n    <width>{}</width>\n    <height>{}</height>\n    <depth>3</depth>\n  </size>\n  <segmented>1</segmented>\n",
            self.width, self.height
        );
        for b in &self.boxes {
            s += &format!(
                "  <object>\n    <name>{}</name>\n    <difficult>0</difficult>\n    <bndbox>\n      <xmin>{}</xmin>\n      <ymin>{}</ymin>\n      <xmax>{}</xmax>\n      <ymax>{}</ymax>\n    </bndbox>\n  </object>\n",
                classes.name(b.class),
                b.xmin + 1,
                b.ymin + 1,
                b.xmax + 1,
                b.ymax + 1
            );
        }
        s + "</annotation>\n"
    }
}

/// Points and scribbles of one object (or of the background).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marks {
    /// Class name (`background` for background strokes).
    pub class: String,
    /// Clicked points, [x, y].
    #[serde(default)]
    pub points: Vec<[f32; 2]>,
    /// Scribble polylines, each a list of [x, y] vertices.
    #[serde(default)]
    pub scribbles: Vec<Vec<[f32; 2]>>,
}

/// The points/scribbles file: marks per image id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MarksFile {
    /// Image id → its objects' marks.
    pub images: BTreeMap<String, Vec<Marks>>,
}

impl MarksFile {
    /// Parses the JSON, checking every class name against `classes`.
    pub fn parse(text: &str, classes: &ClassList, what: &str) -> Result<MarksFile> {
        let f: MarksFile = serde_json::from_str(text)
            .map_err(|e| Error::format(what, format!("not a points/scribbles file: {e}")))?;
        for (id, marks) in &f.images {
            for m in marks {
                if classes.label(&m.class).is_none() {
                    return Err(Error::format(
                        what,
                        format!("image {id}: unknown class {:?}", m.class),
                    ));
                }
            }
        }
        Ok(f)
    }
}
