//! Criterion benches of the kernels on the default adapter: matmul (256, 512,
//! 1024), ResNet-like conv2d forward and forward+backward, and a reduction.
//! Throughput is reported as elements so criterion prints rates; the GFLOP/s
//! figures in BENCHMARKS.md come from `weakseg bench`, which uses the same cases.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weakseg::bench::conv_cases;
use weakseg::{Gpu, Tensor, no_grad};

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new_blocking().expect("a GPU adapter");
    let mut g = c.benchmark_group("matmul");
    g.sample_size(10);
    for n in [256usize, 512, 1024] {
        let a = Tensor::full(&gpu, &[n, n], 0.5).unwrap();
        let b = Tensor::full(&gpu, &[n, n], 0.25).unwrap();
        g.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        g.bench_function(format!("matmul_{n}"), |bch| {
            bch.iter(|| {
                drop(a.matmul(&b).unwrap());
                gpu.sync();
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("conv2d");
    g.sample_size(10);
    for case in conv_cases() {
        let x = Tensor::full(&gpu, &[case.n, case.cin, case.size, case.size], 0.1)
            .unwrap()
            .requires_grad_();
        let w = Tensor::full(&gpu, &[case.cout, case.cin, case.k, case.k], 0.1)
            .unwrap()
            .requires_grad_();
        let y = no_grad(|| x.conv2d(&w, None, case.opts)).unwrap();
        let flops = 2 * y.numel() * case.cin * case.k * case.k;
        let seed = Tensor::ones(&gpu, y.shape()).unwrap();
        g.throughput(Throughput::Elements(flops as u64));
        g.bench_function(format!("{}_fwd", case.name), |bch| {
            bch.iter(|| {
                drop(no_grad(|| x.conv2d(&w, None, case.opts)).unwrap());
                gpu.sync();
            })
        });
        g.throughput(Throughput::Elements(3 * flops as u64));
        g.bench_function(format!("{}_fwd_bwd", case.name), |bch| {
            bch.iter(|| {
                x.zero_grad();
                w.zero_grad();
                x.conv2d(&w, None, case.opts)
                    .unwrap()
                    .backward_with(seed.clone())
                    .unwrap();
                gpu.sync();
            })
        });
    }
    g.finish();
    let mut g = c.benchmark_group("reduce");
    let x = Tensor::full(&gpu, &[512, 4096], 1.0).unwrap();
    g.throughput(Throughput::Bytes(512 * 4096 * 4));
    g.bench_function("sum_512x4096", |bch| {
        bch.iter(|| {
            drop(x.sum(&[1], false).unwrap());
            gpu.sync();
        })
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
