//! Criterion benches of every kernel case `weakseg bench` reports (the same
//! cases from `weakseg::bench::kernel_cases`): matmul, conv2d forward,
//! backward-data, backward-weight and forward+backward on ResNet shapes,
//! GAP + CAM, pair affinity, one dense-CRF iteration and its lattice build,
//! one random-walk step, a reduction, a copy and a small readback.
//! Throughput is given in FLOPs (as elements) or bytes so criterion prints
//! rates; `weakseg bench --json` adds cold times and fractions of the peak.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weakseg::Gpu;
use weakseg::bench::kernel_cases;

fn kernels(c: &mut Criterion) {
    let gpu = Gpu::new_blocking().expect("a GPU adapter");
    let (rated, timed): (Vec<_>, Vec<_>) = kernel_cases(&gpu)
        .expect("benchmark inputs")
        .into_iter()
        .partition(|case| case.flops > 0.0 || case.bytes > 0.0);
    let mut g = c.benchmark_group("kernels");
    g.sample_size(10);
    for mut case in rated {
        g.throughput(if case.flops > 0.0 {
            Throughput::Elements(case.flops as u64)
        } else {
            Throughput::Bytes(case.bytes as u64)
        });
        let name = case.name.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                case.run().expect("kernel run");
                gpu.sync();
            })
        });
    }
    g.finish();
    // Cases with no natural rate (a CRF iteration, a lattice build, a
    // readback): times only.
    let mut g = c.benchmark_group("latency");
    g.sample_size(10);
    for mut case in timed {
        let name = case.name.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                case.run().expect("kernel run");
                gpu.sync();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
