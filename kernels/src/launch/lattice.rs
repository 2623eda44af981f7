//! Launchers for `shaders/lattice.wgsl`: the permutohedral lattice of
//! densecrf (Krähenbühl & Koltun 2011), built and applied on the GPU.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::launch::layout::fill;
use crate::launch::scan::exclusive_scan;
use crate::pipeline::Kernel;
use crate::pool::GpuBuffer;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Largest feature dimension the lattice kernels hold in registers.
pub const MAX_DIM: usize = 8;

const EMPTY: u32 = u32::MAX;

/// The lattice's elevation constants as densecrf computes them: 1/(d+1) and
/// the per-axis scale factors √(2/3)(d+1)/√((i+1)(i+2)), rounded to f32.
pub fn elevation(d: usize) -> (f32, Vec<f32>) {
    let inv_std = ((2.0f64 / 3.0).sqrt() * (d + 1) as f64) as f32;
    let scales = (0..d)
        .map(|i| (1.0 / (((i + 2) * (i + 1)) as f64).sqrt() * inv_std as f64) as f32)
        .collect();
    (1.0f32 / (d + 1) as f32, scales)
}

/// The slice weight α = 1/(1 + 2⁻ᵈ) that makes the blurred lattice a
/// Gaussian of unit standard deviation.
pub fn slice_alpha(d: usize) -> f32 {
    1.0f32 / (1.0 + 2f32.powi(-(d as i32)))
}

/// A permutohedral lattice over `n` points with `d`-dimensional features,
/// resident on the GPU: per entry (point, simplex vertex) its lattice point
/// and barycentric weight, per lattice point its entries and its two
/// neighbours along each of the d+1 axes.
pub struct Lattice {
    n: usize,
    d: usize,
    m: usize,
    lat: GpuBuffer,
    bary: GpuBuffer,
    entries: GpuBuffer,
    start: GpuBuffer,
    nbr: GpuBuffer,
}

/// The largest binding, in bytes, that [`Lattice::build`] of `n` points in
/// `d` dimensions sizes before the lattice's point count is known: its keys
/// (n·(d+1)·d values) or its hash table. A caller compares it with the
/// adapter's `max_storage_buffer_binding_size` before any work.
pub fn build_binding(n: usize, d: usize) -> u64 {
    let e = n as u64 * (d as u64 + 1);
    (e * d as u64).max((2 * e).next_power_of_two()) * 4
}

fn params(n: usize, d: usize, table: usize, m: usize) -> Result<Params> {
    Ok(Params::new(&[
        u32_of("lattice", n)?,
        d as u32,
        u32_of("lattice", table)?,
        u32_of("lattice", m)?,
    ]))
}

impl Lattice {
    /// Builds the lattice of `features` ([n, d], point-major, already divided
    /// by their standard deviations). One readback (the number of lattice
    /// points) sizes the point buffers, hence `async`.
    pub async fn build(gpu: &Gpu, features: View<'_>, n: usize, d: usize) -> Result<Lattice> {
        let op = "lattice";
        if !(1..=MAX_DIM).contains(&d) {
            return Err(Error::invalid(
                op,
                format!("feature dimension {d} outside 1..={MAX_DIM}"),
            ));
        }
        if n == 0 {
            return Err(Error::invalid(op, "no points"));
        }
        features.need(op, "features", n * d)?;
        let e = n
            .checked_mul(d + 1)
            .filter(|&e| e < u32::MAX as usize / 2)
            .ok_or_else(|| Error::invalid(op, format!("{n} points are too many")))?;
        let table = (2 * e).next_power_of_two();
        let keys = gpu.alloc((e * d * 4) as u64)?;
        let bary = gpu.alloc((e * 4) as u64)?;
        let (inv_d1, scales) = elevation(d);
        let mut p = params(n, d, table, 0)?.f(8, inv_d1);
        for (i, s) in scales.iter().enumerate() {
            p = p.f(9 + i, *s);
        }
        let (kv, bv) = (View::new(&keys, e * d), View::new(&bary, e));
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "embed"),
            &p,
            &[features.read(1), kv.write(2), bv.write(3)],
            n as u64,
        )?;
        let tab = gpu.alloc((table * 4) as u64)?;
        let tv = View::new(&tab, table);
        fill(gpu, tv, EMPTY)?;
        let p = params(n, d, table, 0)?;
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "insert"),
            &p,
            &[kv.write(2), tv.write(4)],
            e as u64,
        )?;
        let owner = gpu.alloc((e * 4) as u64)?;
        let flags = gpu.alloc(((e + 1) * 4) as u64)?;
        let (ov, fv) = (View::new(&owner, e), View::new(&flags, e + 1));
        fill(gpu, fv, 0)?;
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "mark"),
            &p,
            &[kv.write(2), tv.write(4), ov.write(5), fv.write(6)],
            e as u64,
        )?;
        exclusive_scan(gpu, fv)?;
        let m_bytes = gpu.read(&flags, (e * 4) as u64, 4)?.await?;
        let m = u32::from_le_bytes([m_bytes[0], m_bytes[1], m_bytes[2], m_bytes[3]]) as usize;
        if m == 0 || m > e {
            return Err(Error::invalid(
                op,
                format!("lattice build found {m} points for {e} entries"),
            ));
        }
        let p = params(n, d, table, m)?;
        let lat = gpu.alloc((e * 4) as u64)?;
        let rep = gpu.alloc((m * 4) as u64)?;
        let (lv, rv) = (View::new(&lat, e), View::new(&rep, m));
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "assign"),
            &p,
            &[ov.read(1), fv.read(2), lv.write(3), rv.write(4)],
            e as u64,
        )?;
        let counts = gpu.alloc(((m + 1) * 4) as u64)?;
        let start = gpu.alloc(((m + 1) * 4) as u64)?;
        let (cv, sv) = (View::new(&counts, m + 1), View::new(&start, m + 1));
        fill(gpu, cv, 0)?;
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "count"),
            &p,
            &[lv.read(1), cv.write(2)],
            e as u64,
        )?;
        gpu.copy(&counts, 0, &start, 0, ((m + 1) * 4) as u64)?;
        exclusive_scan(gpu, sv)?;
        fill(gpu, cv, 0)?;
        let entries = gpu.alloc((e * 4) as u64)?;
        let ev = View::new(&entries, e);
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "fill_lists"),
            &p,
            &[lv.read(1), cv.write(2), sv.read(3), ev.write(4)],
            e as u64,
        )?;
        let links = (d + 1) * m * 2;
        let nbr = gpu.alloc((links * 4) as u64)?;
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "neighbours"),
            &p,
            &[
                kv.read(1),
                rv.read(2),
                lv.read(3),
                tv.write(4),
                View::new(&nbr, links).write(5),
            ],
            ((d + 1) * m) as u64,
        )?;
        Ok(Lattice {
            n,
            d,
            m,
            lat,
            bary,
            entries,
            start,
            nbr,
        })
    }

    /// Builds the lattice and waits for it (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn build_blocking(gpu: &Gpu, features: View<'_>, n: usize, d: usize) -> Result<Lattice> {
        pollster::block_on(Lattice::build(gpu, features, n, d))
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the lattice has no points (never true for a built lattice).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.d
    }

    /// Number of distinct lattice points.
    pub fn points(&self) -> usize {
        self.m
    }

    /// out[c, i] = Σ_j k(f_i, f_j) in[c, j] for `channels` rows of `n`
    /// values, k the lattice's approximate unit Gaussian. With `scale`, the
    /// input is multiplied by it before splatting and the output after
    /// slicing (densecrf's symmetric normalisation). `reverse` blurs the axes
    /// in reverse order (the transposed filter).
    pub fn filter(
        &self,
        gpu: &Gpu,
        input: View,
        output: View,
        channels: usize,
        scale: Option<View>,
        reverse: bool,
    ) -> Result<()> {
        let op = "lattice_filter";
        let (n, d, m) = (self.n, self.d, self.m);
        input.need(op, "input", channels * n)?;
        output.need(op, "output", channels * n)?;
        if let Some(s) = scale {
            s.need(op, "scale", n)?;
        }
        if channels == 0 {
            return Ok(());
        }
        let e = n * (d + 1);
        let size = channels * m;
        let a = gpu.alloc((size * 4) as u64)?;
        let b = gpu.alloc((size * 4) as u64)?;
        let (mut av, mut bv) = (View::new(&a, size), View::new(&b, size));
        let scaled = scale.is_some() as u32;
        // Unscaled filters bind the (read-only) weights in the unused slot.
        let sc = scale.unwrap_or(View::new(&self.bary, e));
        let p = params(n, d, 1, m)?
            .u(4, u32_of(op, channels)?)
            .u(5, scaled)
            .f(7, slice_alpha(d));
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "splat"),
            &p,
            &[
                View::new(&self.entries, e).read(1),
                View::new(&self.start, m + 1).read(2),
                View::new(&self.bary, e).read(3),
                input.read(4),
                sc.read(5),
                av.write(6),
            ],
            size as u64,
        )?;
        let links = View::new(&self.nbr, (d + 1) * m * 2);
        for step in 0..=d {
            let axis = if reverse { d - step } else { step };
            gpu.launch(
                op,
                Kernel::new(Shader::Lattice, "blur"),
                &p.u(6, axis as u32),
                &[links.read(1), av.read(2), bv.write(3)],
                size as u64,
            )?;
            std::mem::swap(&mut av, &mut bv);
        }
        gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "slice"),
            &p,
            &[
                View::new(&self.lat, e).read(1),
                View::new(&self.bary, e).read(2),
                av.read(3),
                sc.read(4),
                output.write(5),
            ],
            (channels * n) as u64,
        )
    }
}

/// densecrf's pairwise features of an h×w grid: (x/σx, y/σy) per pixel, and
/// with `rgb` ([3, h·w] in 0..255) also (R/σr, G/σg, B/σb). `out` is
/// [h·w, 2] or [h·w, 5].
pub fn crf_features(
    gpu: &Gpu,
    width: usize,
    n: usize,
    sxy: (f32, f32),
    rgb: Option<(View, [f32; 3])>,
    out: View,
) -> Result<()> {
    let op = "crf_features";
    if width == 0 || !n.is_multiple_of(width) {
        return Err(Error::invalid(
            op,
            format!("{n} pixels do not fill rows of width {width}"),
        ));
    }
    let d = if rgb.is_some() { 5 } else { 2 };
    out.need(op, "features", n * d)?;
    let mut p = Params::new(&[u32_of(op, n)?, d as u32, 0, u32_of(op, width)?])
        .f(4, sxy.0)
        .f(5, sxy.1);
    match rgb {
        None => gpu.launch(
            op,
            Kernel::new(Shader::Lattice, "features_xy"),
            &p,
            &[out.write(2)],
            n as u64,
        ),
        Some((img, s)) => {
            img.need(op, "image", 3 * n)?;
            for (i, v) in s.iter().enumerate() {
                p = p.f(6 + i, *v);
            }
            gpu.launch(
                op,
                Kernel::new(Shader::Lattice, "features_rgb"),
                &p,
                &[img.read(1), out.write(2)],
                n as u64,
            )
        }
    }
}
