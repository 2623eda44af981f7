//! Class lists: the foreground class names; label 0 is background and
//! class i of the list is label i + 1, as in VOC's segmentation PNGs.

use weakseg_kernels::{Error, Result};

/// The 20 PASCAL VOC classes in label order.
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// The foreground classes of a dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassList {
    /// Foreground names; label i + 1 is `names[i]`.
    pub names: Vec<String>,
}

impl ClassList {
    /// The 20 VOC classes.
    pub fn voc() -> ClassList {
        ClassList {
            names: VOC_CLASSES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Parses classes.txt: one name per line, blank lines skipped, and a
    /// leading `background` line dropped (it is label 0 either way).
    pub fn parse(text: &str, what: &str) -> Result<ClassList> {
        let mut names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.first().is_some_and(|n| n == "background") {
            names.remove(0);
        }
        if names.is_empty() || names.len() > 254 {
            return Err(Error::format(
                what,
                format!("{} classes: a class list needs 1 to 254 names", names.len()),
            ));
        }
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(Error::format(what, format!("class {n:?} listed twice")));
            }
        }
        Ok(ClassList { names })
    }

    /// The text of classes.txt for this list.
    pub fn to_text(&self) -> String {
        self.names.iter().map(|n| format!("{n}\n")).collect()
    }

    /// Number of foreground classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Classes in label maps, background included.
    pub fn with_background(&self) -> usize {
        self.names.len() + 1
    }

    /// The label (1-based) of a class name; `background` is 0.
    pub fn label(&self, name: &str) -> Option<u8> {
        if name == "background" {
            return Some(0);
        }
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| i as u8 + 1)
    }

    /// The name of a label (0 is `background`).
    pub fn name(&self, label: u8) -> &str {
        match label {
            0 => "background",
            l => self
                .names
                .get(l as usize - 1)
                .map_or("unknown", String::as_str),
        }
    }
}
