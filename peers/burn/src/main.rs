//! weakseg beside burn (wgpu backend) on the two cases, in one run:
//! `matmul_512` and `conv3x3_n8_c32_64` forward and forward+backward.
//!
//! Each side first computes the case once and the results are compared
//! (relative to the largest magnitude; a mismatch over 1e-3 aborts). Then each
//! side is timed on the same inputs: one cold run each, then `--reps` warm
//! pairs, burn then weakseg, alternating so that both meet the machine's
//! slow spells alike; the reported ratio is the median of the pairs' ratios.
//! A timed run ends with the outputs (and for forward+backward, both
//! gradients) read back to host memory on both sides, so lazy or fused
//! execution cannot end the clock early.
//!
//! Usage: `cargo run --release -- [--reps N]` (from `peers/burn`), with
//! `WGPU_BACKEND=vulkan` to pin weakseg to the same Vulkan adapter burn picks.

use std::time::Instant;

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, DeviceKind, Tensor as BTensor, TensorData};
use serde_json::json;
use weakseg::{ConvOpts, Gpu, Tensor};

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn pseudo(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (((i + seed) * 2654435761) % 1000) as f32 / 1000.0 - 0.5)
        .collect()
}

/// Largest absolute difference over the largest magnitude of `b`.
fn rel_diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "result lengths differ");
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
    a.iter()
        .zip(b)
        .fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs()))
        / scale
}

/// Seconds of one run of each side, timed in alternation: both cold runs
/// first (burn's, then ours), then `reps` pairs, burn then weakseg in each.
/// On a shared 2-core machine slow spells come and go over seconds;
/// alternating puts both sides in the same spells, and the median of the
/// per-pair ratios is what the comparison reports. Each run must leave its
/// results in host memory.
struct Timing {
    /// Median seconds of burn's warm runs, and its cold run.
    burn: (f64, f64),
    /// Median seconds of weakseg's warm runs, and its cold run.
    ours: (f64, f64),
    /// Median over the pairs of burn's seconds over weakseg's.
    ratio: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time_pair(
    reps: usize,
    mut theirs: impl FnMut() -> AnyResult<()>,
    mut ours: impl FnMut() -> AnyResult<()>,
) -> AnyResult<Timing> {
    let clock = |run: &mut dyn FnMut() -> AnyResult<()>| -> AnyResult<f64> {
        let t = Instant::now();
        run()?;
        Ok(t.elapsed().as_secs_f64())
    };
    let cold = (clock(&mut theirs)?, clock(&mut ours)?);
    let (mut b, mut o) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        b.push(clock(&mut theirs)?);
        o.push(clock(&mut ours)?);
    }
    let ratio = median(b.iter().zip(&o).map(|(x, y)| x / y).collect());
    Ok(Timing {
        burn: (median(b), cold.0),
        ours: (median(o), cold.1),
        ratio,
    })
}

fn btensor<const D: usize>(dev: &Device, data: &[f32], shape: [usize; D]) -> BTensor<D> {
    BTensor::<D>::from_data(TensorData::new(data.to_vec(), shape), dev)
}

fn bvec<const D: usize>(t: BTensor<D>) -> AnyResult<Vec<f32>> {
    t.into_data()
        .try_to_vec::<f32>()
        .map_err(|e| format!("burn readback: {e:?}").into())
}

struct Case {
    name: &'static str,
    flops: f64,
    max_rel_diff: f64,
    timing: Timing,
}

impl Case {
    fn json(&self) -> serde_json::Value {
        let g = |s: f64| self.flops / s / 1e9;
        let t = &self.timing;
        json!({
            "name": self.name,
            "max_rel_diff": self.max_rel_diff,
            "weakseg_gflops": g(t.ours.0),
            "burn_gflops": g(t.burn.0),
            "ratio": t.ratio,
            "weakseg_cold_s": t.ours.1,
            "burn_cold_s": t.burn.1,
        })
    }
}

fn matmul_case(gpu: &Gpu, dev: &Device, n: usize, reps: usize) -> AnyResult<Case> {
    let (a, b) = (pseudo(n * n, 1), pseudo(n * n, 2));
    let (ta, tb) = (
        Tensor::from_slice(gpu, &a, &[n, n])?,
        Tensor::from_slice(gpu, &b, &[n, n])?,
    );
    let (ba, bb) = (btensor(dev, &a, [n, n]), btensor(dev, &b, [n, n]));
    let ours = || -> AnyResult<Vec<f32>> { Ok(ta.matmul(&tb)?.to_vec_blocking::<f32>()?) };
    let theirs = || bvec(ba.clone().matmul(bb.clone()));
    let max_rel_diff = rel_diff(&ours()?, &theirs()?);
    if max_rel_diff > 1e-3 {
        return Err(format!("matmul_{n}: results differ (max rel diff {max_rel_diff:.2e})").into());
    }
    Ok(Case {
        name: if n == 512 { "matmul_512" } else { "matmul" },
        flops: 2.0 * (n * n * n) as f64,
        max_rel_diff,
        timing: time_pair(reps, || theirs().map(drop), || ours().map(drop))?,
    })
}

/// N=8, 32→32 channels, 64×64, 3×3, pad 1: forward and forward+backward.
fn conv_cases(gpu: &Gpu, dev: &Device, reps: usize) -> AnyResult<[Case; 2]> {
    let (n, c, s, k) = (8, 32, 64, 3);
    let (x, w) = (pseudo(n * c * s * s, 3), pseudo(c * c * k * k, 4));
    let opts = ConvOpts::new(1, 1, 1, 1);
    let bopts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let tx = Tensor::from_slice(gpu, &x, &[n, c, s, s])?.requires_grad_();
    let tw = Tensor::from_slice(gpu, &w, &[c, c, k, k])?.requires_grad_();
    let ad = dev.clone().autodiff();
    let bx = btensor(&ad, &x, [n, c, s, s]).require_grad();
    let bw = btensor(&ad, &w, [c, c, k, k]).require_grad();
    let bxf = btensor(dev, &x, [n, c, s, s]);
    let bwf = btensor(dev, &w, [c, c, k, k]);

    let ours_fwd = || -> AnyResult<Vec<f32>> {
        Ok(weakseg::no_grad(|| tx.conv2d(&tw, None, opts))?.to_vec_blocking::<f32>()?)
    };
    let burn_fwd = || {
        bvec(burn::tensor::module::conv2d(
            bxf.clone(),
            bwf.clone(),
            None,
            bopts.clone(),
        ))
    };
    let ours_both = || -> AnyResult<[Vec<f32>; 2]> {
        tx.zero_grad();
        tw.zero_grad();
        tx.conv2d(&tw, None, opts)?.sum_all()?.backward()?;
        let gx = tx.grad().ok_or("weakseg: no input gradient")?;
        let gw = tw.grad().ok_or("weakseg: no weight gradient")?;
        Ok([gx.to_vec_blocking::<f32>()?, gw.to_vec_blocking::<f32>()?])
    };
    let burn_both = || -> AnyResult<[Vec<f32>; 2]> {
        let y = burn::tensor::module::conv2d(bx.clone(), bw.clone(), None, bopts.clone());
        let grads = y.sum().backward();
        let gx = bx.grad(&grads).ok_or("burn: no input gradient")?;
        let gw = bw.grad(&grads).ok_or("burn: no weight gradient")?;
        Ok([bvec(gx)?, bvec(gw)?])
    };

    let fwd_diff = rel_diff(&ours_fwd()?, &burn_fwd()?);
    let ([ogx, ogw], [bgx, bgw]) = (ours_both()?, burn_both()?);
    let bwd_diff = rel_diff(&ogx, &bgx).max(rel_diff(&ogw, &bgw));
    for (what, d) in [("forward", fwd_diff), ("gradients", bwd_diff)] {
        if d > 1e-3 {
            return Err(format!("conv3x3_n8_c32_64 {what} differ (max rel diff {d:.2e})").into());
        }
    }
    let flops = 2.0 * (n * c * s * s * c * k * k) as f64;
    Ok([
        Case {
            name: "conv3x3_n8_c32_64_fwd",
            flops,
            max_rel_diff: fwd_diff,
            timing: time_pair(reps, || burn_fwd().map(drop), || ours_fwd().map(drop))?,
        },
        Case {
            name: "conv3x3_n8_c32_64_fwd_bwd",
            flops: 3.0 * flops,
            max_rel_diff: bwd_diff,
            timing: time_pair(reps, || burn_both().map(drop), || ours_both().map(drop))?,
        },
    ])
}

/// A second of 256×256 matmuls on both sides before anything is timed: on
/// CPU adapters the first second of work in a process runs slower (worker
/// threads, freshly mapped memory), which would otherwise land on whichever
/// side runs first. (weakseg's matmul_512 cold time then no longer includes
/// its pipeline's compilation; burn autotunes per shape, so its does.)
fn warm_up(gpu: &Gpu, dev: &Device) -> AnyResult<()> {
    let a = pseudo(256 * 256, 7);
    let ta = Tensor::from_slice(gpu, &a, &[256, 256])?;
    let ba = btensor(dev, &a, [256, 256]);
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        ta.matmul(&ta)?.to_vec_blocking::<f32>()?;
        bvec(ba.clone().matmul(ba.clone()))?;
    }
    Ok(())
}

fn main() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let reps = match args.iter().position(|a| a == "--reps") {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or("--reps takes a positive integer")?,
        None => 5,
    };
    let gpu = Gpu::new_blocking()?;
    let dev = Device::wgpu(DeviceKind::DefaultDevice);
    warm_up(&gpu, &dev)?;
    let mut cases = vec![matmul_case(&gpu, &dev, 512, reps)?];
    cases.extend(conv_cases(&gpu, &dev, reps)?);
    for c in &cases {
        eprintln!(
            "{:<28} weakseg {:>7.2} GFLOP/s   burn {:>7.2} GFLOP/s   ratio {:>5.2}×   (max rel diff {:.1e})",
            c.name,
            c.flops / c.timing.ours.0 / 1e9,
            c.flops / c.timing.burn.0 / 1e9,
            c.timing.ratio,
            c.max_rel_diff
        );
    }
    let report = json!({
        "adapter": gpu.report().name,
        "reps": reps,
        "cases": cases.iter().map(Case::json).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
