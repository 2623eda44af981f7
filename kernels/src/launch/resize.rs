//! Launchers for `shaders/resize.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Interpolation mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Bilinear; `true` aligns corners.
    Bilinear(bool),
    /// Nearest (torch's legacy rule: src = ⌊dst·in/out⌋).
    Nearest,
}

/// Parameters and kernel of resize entry `op` ("resize" or "resize_backward").
fn params(
    op: &'static str,
    n: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
) -> Result<(Params, Kernel)> {
    if hw.0 == 0 || hw.1 == 0 || out.0 == 0 || out.1 == 0 {
        return Err(Error::invalid(
            op,
            format!("sizes must be positive, got {hw:?} → {out:?}"),
        ));
    }
    let (code, align) = match mode {
        Mode::Bilinear(a) => (0, a as u32),
        Mode::Nearest => (1, 0),
    };
    let p = Params::new(&[
        u32_of(op, n)?,
        hw.0 as u32,
        hw.1 as u32,
        out.0 as u32,
        out.1 as u32,
        align,
    ]);
    Ok((p, Kernel::with_op(Shader::Resize, op, code)))
}

/// Resizes `planes` planes from h×w to ho×wo.
pub fn resize(
    gpu: &Gpu,
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
    x: View,
    y: View,
) -> Result<()> {
    let n = planes * out.0 * out.1;
    let (p, k) = params("resize", n, hw, out, mode)?;
    gpu.launch("resize", k, &p, &[x.read(1), y.write(2)], n as u64)
}

/// Gradient of [`resize`]: dy of ho×wo planes to dx of h×w planes.
pub fn resize_backward(
    gpu: &Gpu,
    planes: usize,
    hw: (usize, usize),
    out: (usize, usize),
    mode: Mode,
    dy: View,
    dx: View,
) -> Result<()> {
    let n = planes * hw.0 * hw.1;
    let (p, k) = params("resize_backward", n, hw, out, mode)?;
    gpu.launch(
        "resize_backward",
        k,
        &p,
        &[dy.read(1), dx.write(2)],
        n as u64,
    )
}
