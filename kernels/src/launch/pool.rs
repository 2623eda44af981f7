//! Launchers for `shaders/pool.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Geometry of a pooling window over `planes` (= N·C) planes of h×w.
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    /// N·C.
    pub planes: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window (rows, columns).
    pub kernel: (usize, usize),
    /// Stride.
    pub stride: (usize, usize),
    /// Zero padding.
    pub pad: (usize, usize),
}

impl Pool2d {
    /// Output height.
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad.0).saturating_sub(self.kernel.0) / self.stride.0 + 1
    }

    /// Output width.
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad.1).saturating_sub(self.kernel.1) / self.stride.1 + 1
    }

    /// Checks the geometry.
    pub fn validate(&self) -> Result<()> {
        if self.kernel.0 == 0 || self.kernel.1 == 0 || self.stride.0 == 0 || self.stride.1 == 0 {
            return Err(Error::invalid(
                "pool2d",
                "kernel and stride must be positive",
            ));
        }
        if self.h + 2 * self.pad.0 < self.kernel.0 || self.w + 2 * self.pad.1 < self.kernel.1 {
            return Err(Error::invalid(
                "pool2d",
                format!(
                    "window {:?} larger than the padded {}×{} input",
                    self.kernel, self.h, self.w
                ),
            ));
        }
        if self.pad.0 * 2 > self.kernel.0 || self.pad.1 * 2 > self.kernel.1 {
            return Err(Error::invalid(
                "pool2d",
                "padding must be at most half the window",
            ));
        }
        Ok(())
    }

    pub(crate) fn params(&self, n: usize) -> Result<Params> {
        let op = "pool2d";
        let v = [
            n,
            self.h,
            self.w,
            self.ho(),
            self.wo(),
            self.kernel.0,
            self.kernel.1,
            self.stride.0,
            self.stride.1,
            self.pad.0,
            self.pad.1,
        ];
        let mut p = Params::new(&[]);
        for (i, x) in v.iter().enumerate() {
            p = p.u(i, u32_of(op, *x)?);
        }
        Ok(p)
    }
}

/// Average pooling (padding counted in the divisor).
pub fn avg_pool2d(gpu: &Gpu, g: &Pool2d, x: View, y: View) -> Result<()> {
    g.validate()?;
    let n = g.planes * g.ho() * g.wo();
    x.need("avg_pool2d", "the input", g.planes * g.h * g.w)?;
    y.need("avg_pool2d", "the output", n)?;
    gpu.launch(
        "avg_pool2d",
        Kernel::new(Shader::Pool, "avg_pool2d"),
        &g.params(n)?,
        &[x.read(1), y.write(2)],
        n as u64,
    )
}

/// Max pooling; `arg` receives the within-plane index of each maximum.
pub fn max_pool2d(gpu: &Gpu, g: &Pool2d, x: View, y: View, arg: View) -> Result<()> {
    g.validate()?;
    let n = g.planes * g.ho() * g.wo();
    x.need("max_pool2d", "the input", g.planes * g.h * g.w)?;
    y.need("max_pool2d", "the output", n)?;
    arg.need("max_pool2d", "the indices", n)?;
    gpu.launch(
        "max_pool2d",
        Kernel::new(Shader::Pool, "max_pool2d"),
        &g.params(n)?,
        &[x.read(1), y.write(2), arg.write(3)],
        n as u64,
    )
}

/// Gradient of average pooling.
pub fn avg_pool2d_backward(gpu: &Gpu, g: &Pool2d, dy: View, dx: View) -> Result<()> {
    let n = g.planes * g.ho() * g.wo();
    dy.need("avg_pool2d_backward", "the output gradient", n)?;
    dx.need(
        "avg_pool2d_backward",
        "the input gradient",
        g.planes * g.h * g.w,
    )?;
    let k = Kernel::new(Shader::Pool, "avg_pool2d_backward");
    gpu.launch(
        "avg_pool2d_backward",
        k,
        &g.params(n)?,
        &[dy.read(1), dx.write(2)],
        (g.planes * g.h * g.w) as u64,
    )
}

/// Gradient of max pooling, routed through the saved indices.
pub fn max_pool2d_backward(gpu: &Gpu, g: &Pool2d, dy: View, arg: View, dx: View) -> Result<()> {
    let n = g.planes * g.ho() * g.wo();
    dy.need("max_pool2d_backward", "the output gradient", n)?;
    arg.need("max_pool2d_backward", "the indices", n)?;
    dx.need(
        "max_pool2d_backward",
        "the input gradient",
        g.planes * g.h * g.w,
    )?;
    let k = Kernel::new(Shader::Pool, "max_pool2d_backward");
    gpu.launch(
        "max_pool2d_backward",
        k,
        &g.params(n)?,
        &[dy.read(1), dx.write(2), arg.read(4)],
        (g.planes * g.h * g.w) as u64,
    )
}

/// Launches an adaptive-pooling entry over `n` elements mapping h×w ↔ ho×wo planes.
#[allow(clippy::too_many_arguments)]
fn adaptive(
    gpu: &Gpu,
    op: &'static str,
    entry: &'static str,
    n: usize,
    hw: (usize, usize),
    out: (usize, usize),
    src: View,
    dst: View,
) -> Result<()> {
    if hw.0 == 0 || hw.1 == 0 || out.0 == 0 || out.1 == 0 {
        return Err(Error::invalid(
            op,
            format!("sizes must be positive, got {hw:?} → {out:?}"),
        ));
    }
    let p = Params::new(&[
        u32_of(op, n)?,
        u32_of(op, hw.0)?,
        u32_of(op, hw.1)?,
        u32_of(op, out.0)?,
        u32_of(op, out.1)?,
    ]);
    gpu.launch(
        op,
        Kernel::new(Shader::Pool, entry),
        &p,
        &[src.read(1), dst.write(2)],
        n as u64,
    )
}

/// Adaptive average pooling of `planes` h×w planes to ho×wo (torch's bins).
pub fn adaptive_avg_pool2d(
    gpu: &Gpu,
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    x: View,
    y: View,
) -> Result<()> {
    let op = "adaptive_avg_pool2d";
    x.need(op, "the input", planes * hw.0 * hw.1)?;
    y.need(op, "the output", planes * out.0 * out.1)?;
    adaptive(
        gpu,
        "adaptive_avg_pool2d",
        "adaptive_avg",
        planes * out.0 * out.1,
        hw,
        out,
        x,
        y,
    )
}

/// Gradient of adaptive average pooling.
pub fn adaptive_avg_pool2d_backward(
    gpu: &Gpu,
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    dy: View,
    dx: View,
) -> Result<()> {
    let op = "adaptive_avg_pool2d_backward";
    dy.need(op, "the output gradient", planes * out.0 * out.1)?;
    dx.need(op, "the input gradient", planes * hw.0 * hw.1)?;
    adaptive(
        gpu,
        "adaptive_avg_pool2d_backward",
        "adaptive_avg_backward",
        planes * hw.0 * hw.1,
        hw,
        out,
        dy,
        dx,
    )
}
