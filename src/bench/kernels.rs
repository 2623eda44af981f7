//! Kernel cases: matmul; conv2d forward, backward-data, backward-weight and
//! forward+backward on ResNet shapes (dilated and strided ones included);
//! GAP + CAM; pairwise affinity; one dense-CRF mean-field iteration at
//! 320×240 and 500×375 with 21 labels (and its lattice build); one
//! random-walk step; a reduction; a plain copy; a small readback. The
//! adapter's peak is measured in the same run: the best matmul for
//! GFLOP/s, the copy for GB/s.

use std::time::Instant;

use weakseg_kernels::launch::affinity::{self as ak, PairShape};
use weakseg_kernels::launch::conv::{self as ck, Conv2d};
use weakseg_kernels::launch::layout;

use super::{Case, Measurement, pseudo, tensor};
use crate::io::image::Rgb;
use crate::ops::affinity::PairOffsets;
use crate::refine::crf::{CrfParams, DenseCrf};
use crate::tensor::DType;
use crate::{ConvOpts, Gpu, Result, Tensor, cam, no_grad};

/// A convolution case on ResNet-like shapes.
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    /// Case name.
    pub name: &'static str,
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square input size.
    pub size: usize,
    /// Square kernel size.
    pub k: usize,
    /// Stride, padding and dilation.
    pub opts: ConvOpts,
}

impl ConvCase {
    fn geometry(&self) -> Conv2d {
        Conv2d {
            n: self.n,
            cin: self.cin,
            h: self.size,
            w: self.size,
            cout: self.cout,
            kh: self.k,
            kw: self.k,
            stride: self.opts.stride,
            pad: self.opts.padding,
            dilation: self.opts.dilation,
            groups: self.opts.groups,
        }
    }
}

/// The ResNet-like cases the benches report.
pub fn conv_cases() -> Vec<ConvCase> {
    let c = |name, n, cin, cout, size, k, s, p, d| ConvCase {
        name,
        n,
        cin,
        cout,
        size,
        k,
        opts: ConvOpts::new(s, p, d, 1),
    };
    vec![
        c("conv3x3_n8_c32_64", 8, 32, 32, 64, 3, 1, 1, 1),
        c("conv1x1_n8_c64_128_32", 8, 64, 128, 32, 1, 1, 0, 1),
        c("conv3x3_s2_n8_c64_128_32", 8, 64, 128, 32, 3, 2, 1, 1),
        c("conv3x3_d2_n8_c64_32", 8, 64, 64, 32, 3, 1, 2, 2),
    ]
}

/// The adapter's measured peak: the fastest matmul and the copy kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// GFLOP/s of the best matmul case.
    pub gflops: f64,
    /// GB/s of the copy case.
    pub gbps: f64,
}

impl Peak {
    /// The peak of a measured suite: its best `matmul_*` and its `copy_*`.
    pub fn of(ms: &[Measurement]) -> Peak {
        let gflops = ms
            .iter()
            .filter(|m| m.name.starts_with("matmul_"))
            .map(Measurement::gflops)
            .fold(0.0, f64::max);
        let gbps = ms
            .iter()
            .filter(|m| m.name.starts_with("copy_"))
            .map(Measurement::gbps)
            .fold(0.0, f64::max);
        Peak { gflops, gbps }
    }

    /// Sets each case's fraction of this peak: compute-bound cases against
    /// the matmul, bandwidth cases against the copy.
    pub fn apply(&self, ms: &mut [Measurement]) {
        for m in ms {
            m.peak_fraction = if m.flops > 0.0 && self.gflops > 0.0 {
                Some(m.gflops() / self.gflops)
            } else if m.bytes > 0.0 && self.gbps > 0.0 {
                Some(m.gbps() / self.gbps)
            } else {
                None
            };
        }
    }
}

fn matmul(gpu: &Gpu, n: usize) -> Result<Case> {
    let a = tensor(gpu, &[n, n], 1)?;
    let b = tensor(gpu, &[n, n], 2)?;
    let flops = 2.0 * (n * n * n) as f64;
    Ok(Case::new(format!("matmul_{n}"), flops, 0.0, move || {
        a.matmul(&b).map(drop)
    }))
}

fn conv(gpu: &Gpu, c: &ConvCase) -> Result<Vec<Case>> {
    let g = c.geometry();
    let x = tensor(gpu, &[c.n, c.cin, c.size, c.size], 3)?.requires_grad_();
    let w = tensor(gpu, &[c.cout, c.cin, c.k, c.k], 4)?.requires_grad_();
    let dy_shape = [c.n, c.cout, g.ho(), g.wo()];
    let dy = tensor(gpu, &dy_shape, 5)?;
    let flops = 2.0 * g.macs() as f64;
    let opts = c.opts;
    let (xf, wf) = (x.detach(), w.detach());
    let fwd = Case::new(format!("{}_fwd", c.name), flops, 0.0, move || {
        no_grad(|| xf.conv2d(&wf, None, opts)).map(drop)
    });
    let dx = Tensor::empty(gpu, x.shape(), DType::F32)?;
    let (gd, wd, dyd) = (gpu.clone(), w.detach(), dy.clone());
    let bwd_data = Case::new(format!("{}_bwd_data", c.name), flops, 0.0, move || {
        let (a, b, o) = (dyd.held(), wd.held(), dx.held());
        ck::conv2d_backward_data(&gd, &g, a.v(), b.v(), o.v())
    });
    let dw = Tensor::empty(gpu, w.shape(), DType::F32)?;
    let (gw, xw, dyw) = (gpu.clone(), x.detach(), dy.clone());
    let bwd_weight = Case::new(format!("{}_bwd_weight", c.name), flops, 0.0, move || {
        let (a, b, o) = (xw.held(), dyw.held(), dw.held());
        ck::conv2d_backward_weight(&gw, &g, a.v(), b.v(), o.v())
    });
    let both = Case::new(format!("{}_fwd_bwd", c.name), 3.0 * flops, 0.0, move || {
        x.zero_grad();
        w.zero_grad();
        x.conv2d(&w, None, opts)?.backward_with(dy.clone())
    });
    Ok(vec![fwd, bwd_data, bwd_weight, both])
}

/// GAP of a [8, 128, 32, 32] feature map plus the CAMs of 20 classes: the
/// CAM head at inference (counted as the CAM's multiply-adds plus the GAP's
/// additions).
fn gap_cam(gpu: &Gpu) -> Result<Case> {
    let (n, c, s, k) = (8, 128, 32, 20);
    let feat = tensor(gpu, &[n, c, s, s], 6)?;
    let weight = tensor(gpu, &[k, c], 7)?;
    let present = vec![true; k];
    let flops = (2 * n * k * c * s * s + n * c * s * s) as f64;
    Ok(Case::new(
        format!("gap_cam_n{n}_c{c}_{s}_k{k}"),
        flops,
        0.0,
        move || {
            feat.mean(&[2, 3], false)?;
            cam::maps(&feat, &weight, &present).map(drop)
        },
    ))
}

/// AffinityNet's pair affinities within radius 5 on a [8, 128, 32, 32]
/// feature grid.
fn affinity(gpu: &Gpu) -> Result<Case> {
    let (n, c, s) = (8, 128, 32);
    let offsets = PairOffsets::half_disc(gpu, 5)?;
    let feat = tensor(gpu, &[n, c, s, s], 8)?;
    let flops = 3.0 * (n * offsets.len() * c * s * s) as f64;
    Ok(Case::new(
        format!("affinity_r5_n{n}_c{c}_{s}"),
        flops,
        0.0,
        move || no_grad(|| feat.pair_affinity(&offsets)).map(drop),
    ))
}

/// A synthetic scene: a colour gradient with a grid of flat blocks and mild
/// noise, so the bilateral lattice has a realistic number of vertices.
fn scene(width: usize, height: usize) -> Rgb {
    let noise = pseudo(width * height, 9);
    let mut data = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let block = (x * 5 / width + 2 * (y * 4 / height)) % 6;
            let n = noise[y * width + x] * 12.0;
            for ch in 0..3 {
                let base =
                    40.0 + 30.0 * ((block + ch * 2) % 6) as f32 + 20.0 * x as f32 / width as f32;
                data.push((base + n).clamp(0.0, 255.0) as u8);
            }
        }
    }
    Rgb {
        width,
        height,
        data,
    }
}

/// The dense CRF at `width`×`height` with 21 labels (psa's parameters):
/// one mean-field iteration, and the lattice build on its own (time only).
/// The iteration's rate is an effective bandwidth: the label maps it must
/// read or write at least once, 4·L·N bytes each — per kernel (Gaussian and
/// bilateral) Q in and the message out, plus −U, the summed logits and the
/// new Q.
fn crf(gpu: &Gpu, width: usize, height: usize) -> Result<Vec<Case>> {
    let labels = 21;
    let n = width * height;
    let image = scene(width, height);
    let params = CrfParams::default();
    let dense = DenseCrf::new_blocking(gpu, &image, &params)?;
    let neg = tensor(gpu, &[labels, n], 10)?;
    let q = neg.softmax(0)?;
    let step = Case::new(
        format!("crf_iter_{width}x{height}_l{labels}"),
        0.0,
        (4 * labels * n * (2 * 2 + 3)) as f64,
        move || dense.mean_field_step(&neg, &q).map(drop),
    );
    let g = gpu.clone();
    let build = Case::new(format!("crf_build_{width}x{height}"), 0.0, 0.0, move || {
        DenseCrf::new_blocking(&g, &image, &params).map(drop)
    });
    Ok(vec![step, build])
}

/// One sparse random-walk step of 21 score rows on psa's VOC grid (63×47
/// at stride 8), pairs within radius 5.
fn rw_step(gpu: &Gpu) -> Result<Case> {
    let (rows, h, w) = (21, 47, 63);
    let offsets = PairOffsets::half_disc(gpu, 5)?;
    let s = PairShape {
        batch: 1,
        channels: 1,
        h,
        w,
        pairs: offsets.len(),
    };
    let n = h * w;
    let weights = Tensor::from_slice(
        gpu,
        &pseudo(s.pairs * n, 11)
            .iter()
            .map(|v| v + 0.5)
            .collect::<Vec<_>>(),
        &[s.pairs, n],
    )?;
    let colsum = Tensor::empty(gpu, &[n], DType::F32)?;
    {
        let (oh, wh, ch) = (offsets.tensor().held(), weights.held(), colsum.held());
        ak::rw_colsum(gpu, s, oh.v(), wh.v(), ch.v())?;
    }
    let v = tensor(gpu, &[rows, n], 12)?;
    let out = Tensor::empty(gpu, &[rows, n], DType::F32)?;
    let flops = 2.0 * (rows * n * (2 * s.pairs + 1)) as f64;
    let g = gpu.clone();
    Ok(Case::new(
        format!("rw_step_{w}x{h}_k{rows}"),
        flops,
        0.0,
        move || {
            let (oh, wh, ch, vh, outh) = (
                offsets.tensor().held(),
                weights.held(),
                colsum.held(),
                v.held(),
                out.held(),
            );
            ak::rw_step(&g, s, rows, oh.v(), wh.v(), ch.v(), vh.v(), outh.v())
        },
    ))
}

/// A channel reduction (sum over H·W of [N·C, H·W]), as GAP does.
fn reduction(gpu: &Gpu, rows: usize, cols: usize) -> Result<Case> {
    let x = tensor(gpu, &[rows, cols], 13)?;
    Ok(Case::new(
        format!("sum_{rows}x{cols}"),
        0.0,
        (rows * cols * 4) as f64,
        move || x.sum(&[1], false).map(drop),
    ))
}

/// A plain copy of `mib` MiB: the adapter's bandwidth peak.
fn copy(gpu: &Gpu, mib: usize) -> Result<Case> {
    let words = mib << 18;
    let src = tensor(gpu, &[words], 14)?;
    let dst = Tensor::empty(gpu, &[words], DType::F32)?;
    let g = gpu.clone();
    Ok(Case::new(
        format!("copy_{mib}MiB"),
        0.0,
        2.0 * (words * 4) as f64,
        move || {
            let (sh, dh) = (src.held(), dst.held());
            layout::copy(&g, sh.v(), dh.v())
        },
    ))
}

/// Latency of reading one small tensor back (map round trip).
fn readback(gpu: &Gpu) -> Result<Case> {
    let x = Tensor::zeros(gpu, &[256])?;
    Ok(Case::new("readback_1KiB", 0.0, 0.0, move || {
        x.to_vec_blocking::<f32>().map(drop)
    }))
}

/// Every kernel case, inputs uploaded and ready to run.
pub fn kernel_cases(gpu: &Gpu) -> Result<Vec<Case>> {
    let mut out = vec![matmul(gpu, 256)?, matmul(gpu, 512)?, matmul(gpu, 1024)?];
    for c in conv_cases() {
        out.extend(conv(gpu, &c)?);
    }
    out.push(gap_cam(gpu)?);
    out.push(affinity(gpu)?);
    out.extend(crf(gpu, 320, 240)?);
    out.extend(crf(gpu, 500, 375)?);
    out.push(rw_step(gpu)?);
    out.push(reduction(gpu, 8 * 64, 64 * 64)?);
    out.push(copy(gpu, 16)?);
    out.push(readback(gpu)?);
    Ok(out)
}

/// Fills a 16 MiB buffer for a second before anything is timed: on CPU
/// adapters the first second of work in a process runs measurably slower
/// (worker threads and freshly mapped memory), which would otherwise land on
/// the first cases. `fill` is no case's kernel, so every case's cold run
/// still includes its pipeline's compilation.
fn warm_up(gpu: &Gpu) -> Result<()> {
    let buf = Tensor::empty(gpu, &[4 << 20], DType::F32)?;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        layout::fill(gpu, buf.held().v(), 0)?;
        gpu.sync();
    }
    Ok(())
}

/// Measures every kernel case (one cold run, then the median of `reps`),
/// with each case's fraction of the peak measured in the same run.
pub fn kernel_suite(gpu: &Gpu, reps: usize) -> Result<(Vec<Measurement>, Peak)> {
    let cases = kernel_cases(gpu)?;
    warm_up(gpu)?;
    let mut ms = cases
        .into_iter()
        .map(|c| c.measure(gpu, reps))
        .collect::<Result<Vec<_>>>()?;
    let peak = Peak::of(&ms);
    peak.apply(&mut ms);
    Ok((ms, peak))
}
