//! Label maps as PNG files: palette ("P" mode) PNGs as VOC's
//! SegmentationClass stores them, greyscale PNGs as SegmentationClassAug
//! does, both read as class indices (255 = void); and the VOC palette for
//! writing them.

use weakseg_kernels::{Error, Result};

/// Pixel value meaning "void / ignore" in label maps.
pub const IGNORE: u8 = 255;

/// A map of class indices, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelMap {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height·width` class indices (255 = void).
    pub data: Vec<u8>,
}

impl LabelMap {
    /// A map of `width`×`height` filled with `value`.
    pub fn filled(width: usize, height: usize, value: u8) -> LabelMap {
        LabelMap {
            width,
            height,
            data: vec![value; width * height],
        }
    }

    /// The label at (x, y).
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width + x]
    }
}

/// The PASCAL VOC colour map: entry i spreads the bits of i over the high
/// bits of R, G and B (class 0 black, 255 cream), 256 RGB triples.
pub fn voc_palette() -> [[u8; 3]; 256] {
    let mut p = [[0u8; 3]; 256];
    for (i, entry) in p.iter_mut().enumerate() {
        let mut c = i;
        for shift in (0..8).rev() {
            for (ch, v) in entry.iter_mut().enumerate() {
                *v |= (((c >> ch) & 1) as u8) << shift;
            }
            c >>= 3;
        }
    }
    p
}

/// Unpacks `bits`-per-sample rows into one byte per pixel.
fn unpack(raw: &[u8], width: usize, height: usize, bits: usize, stride: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(width * height);
    let per_byte = 8 / bits;
    let mask = ((1u16 << bits) - 1) as u8;
    for row in raw.chunks(stride).take(height) {
        for x in 0..width {
            let byte = row[x / per_byte];
            let shift = 8 - bits * (x % per_byte + 1);
            out.push((byte >> shift) & mask);
        }
    }
    out
}

/// The most a deflate stream expands (1032-fold), with a margin.
const MAX_INFLATION: usize = 1100;

/// Decodes a palette or greyscale PNG into class indices (the palette
/// index, or the grey value). RGB and 16-bit PNGs are refused: a label map
/// must store indices, not colours.
pub fn decode(bytes: &[u8], what: &str) -> Result<LabelMap> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::IDENTITY);
    let bad =
        |e: &dyn std::fmt::Display| Error::format(what, format!("cannot decode label PNG: {e}"));
    let mut reader = dec.read_info().map_err(|e| bad(&e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad(&"image too large"))?;
    // Deflate expands at most 1032-fold: a header that declares more
    // pixels than the file's bytes can hold is corrupt, and allocating for
    // it would exhaust memory.
    if size > MAX_INFLATION * bytes.len() + 65_536 {
        let i = reader.info();
        return Err(bad(&format!(
            "the header declares {}×{} pixels, more than its {} bytes can hold",
            i.width,
            i.height,
            bytes.len()
        )));
    }
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let bits = match info.bit_depth {
        png::BitDepth::One => 1,
        png::BitDepth::Two => 2,
        png::BitDepth::Four => 4,
        png::BitDepth::Eight => 8,
        png::BitDepth::Sixteen => {
            return Err(Error::format(
                what,
                "16-bit PNG: label maps must be 8-bit palette or greyscale",
            ));
        }
    };
    match info.color_type {
        png::ColorType::Indexed | png::ColorType::Grayscale => {}
        other => {
            return Err(Error::format(
                what,
                format!(
                    "{other:?} PNG: label maps must be palette or greyscale (class indices, not colours)"
                ),
            ));
        }
    }
    Ok(LabelMap {
        width: w,
        height: h,
        data: unpack(&buf, w, h, bits, info.line_size),
    })
}

/// Encodes a label map as an 8-bit palette PNG with the VOC palette, so it
/// opens in any viewer in VOC's colours and reads back as indices.
pub fn encode(map: &LabelMap) -> Result<Vec<u8>> {
    if map.data.len() != map.width * map.height {
        return Err(Error::invalid(
            "label PNG",
            format!(
                "{} labels for a {}×{} map",
                map.data.len(),
                map.width,
                map.height
            ),
        ));
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, map.width as u32, map.height as u32);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_palette(voc_palette().concat());
        let fail = |e: png::EncodingError| Error::format("label PNG", e.to_string());
        let mut w = enc.write_header().map_err(fail)?;
        w.write_image_data(&map.data).map_err(fail)?;
        w.finish().map_err(fail)?;
    }
    Ok(out)
}

/// Encodes a label map as an 8-bit greyscale PNG (SegmentationClassAug style).
pub fn encode_grey(map: &LabelMap) -> Result<Vec<u8>> {
    let img = image::GrayImage::from_raw(map.width as u32, map.height as u32, map.data.clone())
        .ok_or_else(|| Error::invalid("label PNG", "label count does not match the size"))?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::format("label PNG", e.to_string()))?;
    Ok(out.into_inner())
}

/// Reads a label PNG.
#[cfg(not(target_arch = "wasm32"))]
pub fn read(path: &std::path::Path) -> Result<LabelMap> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    decode(&bytes, &path.display().to_string())
}

/// Writes a label map as a VOC-palette PNG (temporary name, then rename).
#[cfg(not(target_arch = "wasm32"))]
pub fn write(path: &std::path::Path, map: &LabelMap) -> Result<()> {
    crate::io::write_atomic(path, &encode(map)?)
}
