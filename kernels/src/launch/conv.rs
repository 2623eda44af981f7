//! Launchers for `shaders/conv.wgsl` and, on CPU adapters with 8-lane
//! subgroups, `shaders/conv_subgroup.wgsl`: forward, backward-data and
//! backward-weight implicit GEMMs.

use crate::batch::Params;
use crate::device::{AdapterClass, Gpu};
use crate::error::{Error, Result};
use crate::launch::reduce::{Axis, Reduce, reduce};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Geometry of a 2-D convolution over NCHW input with OIHW weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Stride (rows, columns).
    pub stride: (usize, usize),
    /// Zero padding (rows, columns).
    pub pad: (usize, usize),
    /// Dilation (rows, columns).
    pub dilation: (usize, usize),
    /// Groups (cin and cout divisible by it; cin = groups for depthwise).
    pub groups: usize,
}

impl Conv2d {
    /// Output height.
    pub fn ho(&self) -> usize {
        (self.h + 2 * self.pad.0).saturating_sub(self.dilation.0 * (self.kh - 1) + 1)
            / self.stride.0
            + 1
    }

    /// Output width.
    pub fn wo(&self) -> usize {
        (self.w + 2 * self.pad.1).saturating_sub(self.dilation.1 * (self.kw - 1) + 1)
            / self.stride.1
            + 1
    }

    /// Checks the geometry, naming the problem.
    pub fn validate(&self) -> Result<()> {
        let op = "conv2d";
        if self.groups == 0
            || !self.cin.is_multiple_of(self.groups)
            || !self.cout.is_multiple_of(self.groups)
        {
            return Err(Error::invalid(
                op,
                format!(
                    "groups {} must divide cin {} and cout {}",
                    self.groups, self.cin, self.cout
                ),
            ));
        }
        if self.stride.0 == 0
            || self.stride.1 == 0
            || self.dilation.0 == 0
            || self.dilation.1 == 0
            || self.kh == 0
            || self.kw == 0
        {
            return Err(Error::invalid(
                op,
                "stride, dilation and kernel size must be positive",
            ));
        }
        let (eh, ew) = (
            self.dilation.0 * (self.kh - 1) + 1,
            self.dilation.1 * (self.kw - 1) + 1,
        );
        if self.h + 2 * self.pad.0 < eh || self.w + 2 * self.pad.1 < ew {
            return Err(Error::invalid(
                op,
                format!(
                    "a {eh}×{ew} dilated kernel does not fit the padded {}×{} input",
                    self.h + 2 * self.pad.0,
                    self.w + 2 * self.pad.1
                ),
            ));
        }
        Ok(())
    }

    /// Multiply-adds of the forward pass.
    pub fn macs(&self) -> u64 {
        (self.n * self.cout * self.ho() * self.wo() * (self.cin / self.groups) * self.kh * self.kw)
            as u64
    }

    pub(crate) fn params(
        &self,
        tiles_c: usize,
        tiles_p: usize,
        has_bias: bool,
        splits: usize,
        split_len: usize,
    ) -> Result<Params> {
        let op = "conv2d";
        let w = [
            self.n,
            self.cin,
            self.h,
            self.w,
            self.cout,
            self.ho(),
            self.wo(),
            self.kh,
            self.kw,
            self.stride.0,
            self.stride.1,
            self.pad.0,
            self.pad.1,
            self.dilation.0,
            self.dilation.1,
            self.groups,
            has_bias as usize,
            tiles_c,
            tiles_p,
            splits,
            split_len,
        ];
        let mut p = Params::new(&[]);
        for (i, v) in w.iter().enumerate() {
            p = p.u(i, u32_of(op, *v)?);
        }
        Ok(p)
    }

    /// Whether 8-channel tiles stay inside one group for channels-per-group `cg`.
    fn wide(&self, cg: usize) -> bool {
        self.groups == 1 || cg.is_multiple_of(8)
    }

    /// Whether the pass whose tile rows are channels with `cg` per group runs
    /// `conv_subgroup.wgsl`: on a CPU adapter with 8-lane subgroups, when the
    /// 16 rows of a tile stay inside one group.
    fn subgroup_tiles(&self, gpu: &Gpu, cg: usize) -> bool {
        gpu.class() == AdapterClass::Cpu
            && gpu.fixed_subgroup_size() == Some(8)
            && (self.groups == 1 || cg.is_multiple_of(16))
    }

    /// Which of this convolution's passes run the subgroup kernels on `gpu`
    /// (the others run the 8×8 or 1×8 register tiles of `conv.wgsl`).
    pub fn subgroup_passes(&self, gpu: &Gpu) -> SubgroupPasses {
        let (cin_g, cout_g) = (self.cin / self.groups, self.cout / self.groups);
        SubgroupPasses {
            forward: self.subgroup_tiles(gpu, cout_g),
            backward_data: self.subgroup_tiles(gpu, cin_g),
            backward_weight: self.subgroup_tiles(gpu, cout_g),
        }
    }
}

/// Which passes of a convolution run `conv_subgroup.wgsl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubgroupPasses {
    /// The forward pass.
    pub forward: bool,
    /// The input gradient.
    pub backward_data: bool,
    /// The weight gradient.
    pub backward_weight: bool,
}

/// y = conv(x, w) + bias.
pub fn conv2d_forward(
    gpu: &Gpu,
    g: &Conv2d,
    x: View,
    w: View,
    bias: Option<View>,
    y: View,
) -> Result<()> {
    g.validate()?;
    let hwo = g.ho() * g.wo();
    y.need("conv2d", "output", g.n * g.cout * hwo)?;
    x.need("conv2d", "input", g.n * g.cin * g.h * g.w)?;
    w.need(
        "conv2d",
        "weight",
        g.cout * (g.cin / g.groups) * g.kh * g.kw,
    )?;
    let (k, tc, tp, lanes) = if g.subgroup_tiles(gpu, g.cout / g.groups) {
        let k = Kernel::new(Shader::ConvSubgroup, "conv2d_fwd_sg");
        (k, g.cout.div_ceil(16), hwo.div_ceil(64), 8)
    } else if g.wide(g.cout / g.groups) {
        let k = Kernel::new(Shader::Conv, "conv2d_fwd_t8");
        (k, g.cout.div_ceil(8), hwo.div_ceil(8), 1)
    } else {
        (
            Kernel::new(Shader::Conv, "conv2d_fwd_t1"),
            g.cout,
            hwo.div_ceil(8),
            1,
        )
    };
    let p = g.params(tc, tp, bias.is_some(), 1, 0)?;
    let b = bias.unwrap_or(w);
    gpu.launch(
        "conv2d",
        k,
        &p,
        &[x.read(1), w.read(2), b.read(3), y.write(4)],
        (g.n * tc * tp * lanes) as u64,
    )
}

/// dx = convᵀ(dy, w): the input gradient.
pub fn conv2d_backward_data(gpu: &Gpu, g: &Conv2d, dy: View, w: View, dx: View) -> Result<()> {
    g.validate()?;
    let hw = g.h * g.w;
    dx.need("conv2d_backward_data", "input gradient", g.n * g.cin * hw)?;
    // The subgroup kernel walks the input phase by phase (y mod stride,
    // x mod stride), each phase an hp × wp grid.
    let (hp, wp) = (g.h.div_ceil(g.stride.0), g.w.div_ceil(g.stride.1));
    let phased = g.stride.0 * g.stride.1 * hp * wp;
    let (k, tc, tp, lanes) = if g.subgroup_tiles(gpu, g.cin / g.groups) {
        let k = Kernel::new(Shader::ConvSubgroup, "conv2d_bwd_data_sg");
        (k, g.cin.div_ceil(16), phased.div_ceil(64), 8)
    } else if g.wide(g.cin / g.groups) {
        let k = Kernel::new(Shader::Conv, "conv2d_bwd_data_t8");
        (k, g.cin.div_ceil(8), hw.div_ceil(8), 1)
    } else {
        let k = Kernel::new(Shader::Conv, "conv2d_bwd_data_t1");
        (k, g.cin, hw.div_ceil(8), 1)
    };
    let p = g
        .params(tc, tp, false, 1, 0)?
        .u(21, u32_of("conv2d_backward_data", hp)?)
        .u(22, u32_of("conv2d_backward_data", wp)?);
    gpu.launch(
        "conv2d_backward_data",
        k,
        &p,
        &[dy.read(1), w.read(2), dx.write(4)],
        (g.n * tc * tp * lanes) as u64,
    )
}

/// dw = Σ over batch and positions of dy ⊗ im2col(x): the weight gradient.
/// The reduction is split across invocations and the partial sums reduced.
pub fn conv2d_backward_weight(gpu: &Gpu, g: &Conv2d, x: View, dy: View, dw: View) -> Result<()> {
    g.validate()?;
    let r = (g.cin / g.groups) * g.kh * g.kw;
    dw.need("conv2d_backward_weight", "weight gradient", g.cout * r)?;
    let (k, tc, tr, lanes) = if g.subgroup_tiles(gpu, g.cout / g.groups) {
        let k = Kernel::new(Shader::ConvSubgroup, "conv2d_bwd_weight_sg");
        (k, g.cout.div_ceil(16), r.div_ceil(64), 8)
    } else if g.wide(g.cout / g.groups) {
        let k = Kernel::new(Shader::Conv, "conv2d_bwd_weight_t8");
        (k, g.cout.div_ceil(8), r.div_ceil(8), 1)
    } else {
        (
            Kernel::new(Shader::Conv, "conv2d_bwd_weight_t1"),
            g.cout,
            r.div_ceil(8),
            1,
        )
    };
    let positions = g.n * g.ho() * g.wo();
    // Invocations to aim for. On a CPU adapter each workgroup runs whole on
    // one thread, so too few workgroups leave threads idle at the end: 512
    // made 9 workgroups for the 3×3, 32-channel case on 2 threads, and 1024
    // (18) measured its weight gradient 10% faster (BENCHMARKS.md).
    let target: usize = match gpu.class() {
        AdapterClass::Cpu => 1024,
        AdapterClass::Gpu => 32768,
    };
    let splits = target
        .div_ceil(tc * tr * lanes)
        .clamp(1, (positions / 256).max(1))
        .max(positions.div_ceil(crate::MAX_LOOP_TRIPS));
    let split_len = positions.div_ceil(splits);
    let p = g.params(tc, tr, false, splits, split_len)?;
    let threads = (splits * tc * tr * lanes) as u64;
    if splits == 1 {
        return gpu.launch(
            "conv2d_backward_weight",
            k,
            &p,
            &[x.read(1), dy.read(2), dw.write(4)],
            threads,
        );
    }
    let part = gpu.alloc((splits * g.cout * r * 4) as u64)?;
    let pv = View::new(&part, splits * g.cout * r);
    gpu.launch(
        "conv2d_backward_weight",
        k,
        &p,
        &[x.read(1), dy.read(2), pv.write(4)],
        threads,
    )?;
    reduce(
        gpu,
        Reduce::Sum,
        pv,
        dw,
        Axis {
            outer: 1,
            l: splits,
            inner: g.cout * r,
        },
    )
}
