//! NumPy `.npy` files of little-endian float32 in C order: how CAMs and
//! probability maps are exchanged with Python tools (psa and IRN save CAMs
//! this way). Version 1.0 headers are written; 1.0–3.0 are read.

use weakseg_kernels::{Error, Result};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A float32 array and its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Npy {
    /// The shape, C order.
    pub shape: Vec<usize>,
    /// The values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

/// Encodes a float32 array as `.npy` bytes.
pub fn encode(shape: &[usize], data: &[f32]) -> Result<Vec<u8>> {
    let n: usize = shape.iter().product();
    if n != data.len() {
        return Err(Error::invalid(
            "npy",
            format!("shape {shape:?} holds {n} values, {} given", data.len()),
        ));
    }
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + 4 * n);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

fn field<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[at..].trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Decodes `.npy` bytes holding float32 (`<f4`) in C order; `what` names
/// the source in errors.
pub fn decode(bytes: &[u8], what: &str) -> Result<Npy> {
    let bad = |msg: String| Error::format(what, msg);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (bad magic)".into()));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad("truncated or non-text header".into()))?;
    let descr = field(header, "descr").ok_or_else(|| bad("header has no descr".into()))?;
    if !(descr.starts_with("'<f4'") || descr.starts_with("'float32'")) {
        return Err(bad(format!(
            "dtype {} is not little-endian float32 ('<f4')",
            descr.split(',').next().unwrap_or(descr)
        )));
    }
    if field(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(bad("Fortran-order arrays are not supported".into()));
    }
    let shape_txt = field(header, "shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("header has no shape".into()))?;
    let shape = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| bad(format!("bad shape ({shape_txt})")))?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let body = &bytes[start + len..];
    if body.len() != 4 * n {
        return Err(bad(format!(
            "shape {shape:?} needs {} data bytes, the file has {}",
            4 * n,
            body.len()
        )));
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Npy { shape, data })
}

/// Reads a float32 `.npy` file, naming it in errors.
#[cfg(not(target_arch = "wasm32"))]
pub fn read(path: &std::path::Path) -> Result<Npy> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    decode(&bytes, &path.display().to_string())
}

impl Npy {
    /// Refuses a NaN or infinite value, and with `non_negative` a negative
    /// one, naming `path`, the first bad value and its index: a score map
    /// holding one would otherwise turn into a silent all-background label
    /// map downstream.
    pub fn check_values(&self, path: &std::path::Path, non_negative: bool) -> Result<()> {
        let bad = self
            .data
            .iter()
            .position(|v| !v.is_finite() || (non_negative && *v < 0.0));
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::invalid(
                "npy",
                format!(
                    "{}: value {} at flat index {i} (shape {:?}); want finite{} values",
                    path.display(),
                    self.data[i],
                    self.shape,
                    if non_negative { ", non-negative" } else { "" }
                ),
            )),
        }
    }
}

/// Reads a float32 `.npy` file that must have `shape` and finite values;
/// `None` entries match any length. A file of another shape is an error
/// naming it, the shape found and the shape wanted.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_shaped(path: &std::path::Path, shape: &[Option<usize>]) -> Result<Npy> {
    let npy = read(path)?;
    let fits = npy.shape.len() == shape.len()
        && npy
            .shape
            .iter()
            .zip(shape)
            .all(|(&got, want)| want.is_none_or(|w| w == got));
    if !fits {
        let want: Vec<String> = shape
            .iter()
            .map(|d| d.map_or("_".to_string(), |v| v.to_string()))
            .collect();
        return Err(Error::invalid(
            "npy",
            format!(
                "{}: shape {:?}, want [{}]",
                path.display(),
                npy.shape,
                want.join(", ")
            ),
        ));
    }
    npy.check_values(path, false)?;
    Ok(npy)
}

/// Writes a float32 `.npy` file atomically.
#[cfg(not(target_arch = "wasm32"))]
pub fn write(path: &std::path::Path, shape: &[usize], data: &[f32]) -> Result<()> {
    super::write_atomic(path, &encode(shape, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        for shape in [vec![3usize], vec![2, 3, 4], vec![0, 5]] {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let bytes = encode(&shape, &data).unwrap();
            assert_eq!((bytes.len() - 4 * n) % 64, 0, "header padded to 64");
            let back = decode(&bytes, "t").unwrap();
            assert_eq!(back, Npy { shape, data });
        }
        let good = encode(&[2], &[1.0, 2.0]).unwrap();
        assert!(decode(&good[..good.len() - 1], "t").is_err());
        assert!(decode(b"not numpy", "t").is_err());
        let mut f8 = good.clone();
        let at = f8.windows(3).position(|w| w == b"<f4").unwrap();
        f8[at + 2] = b'8';
        let e = decode(&f8, "x.npy").unwrap_err().to_string();
        assert!(e.contains("x.npy") && e.contains("float32"), "{e}");
        assert!(encode(&[3], &[1.0]).is_err());
    }

    #[test]
    fn non_finite_and_negative_values_are_named() {
        let path = std::path::Path::new("cams/7.npy");
        let ok = Npy {
            shape: vec![3],
            data: vec![0.0, -1.0, 2.0],
        };
        ok.check_values(path, false).unwrap();
        let e = ok.check_values(path, true).unwrap_err().to_string();
        assert!(
            e.contains("cams/7.npy") && e.contains("-1 at flat index 1"),
            "{e}"
        );
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let npy = Npy {
                shape: vec![2],
                data: vec![0.5, bad],
            };
            let e = npy.check_values(path, false).unwrap_err().to_string();
            assert!(e.contains("at flat index 1"), "{e}");
        }
    }
}
