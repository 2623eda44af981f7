//! Batch loading that overlaps decoding and augmentation with GPU work: on
//! native targets a worker thread prepares up to `depth` batches ahead
//! while the caller trains on the current one; on wasm32 (no threads in the
//! core) the same function prepares each batch when it is needed.

use weakseg_kernels::Result;

use crate::data::{Dataset, Sample};

/// The (index, augmentation seed) pairs of one batch.
pub type BatchPlan = Vec<(usize, u64)>;

fn make<D: Dataset + ?Sized>(data: &D, plan: &BatchPlan) -> Result<Vec<Sample>> {
    plan.iter().map(|&(i, seed)| data.sample(i, seed)).collect()
}

/// Makes the samples of each planned batch and hands them, in order, to
/// `consume` with the batch's position. The first error (from the dataset
/// or from `consume`) stops the run and is returned.
#[cfg(not(target_arch = "wasm32"))]
pub fn prefetch<D: Dataset + Sync + ?Sized>(
    data: &D,
    plans: &[BatchPlan],
    depth: usize,
    mut consume: impl FnMut(usize, Vec<Sample>) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(depth.max(1));
        s.spawn(move || {
            for plan in plans {
                let batch = make(data, plan);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    break;
                }
            }
        });
        for (m, batch) in rx.iter().enumerate() {
            consume(m, batch?)?;
        }
        Ok(())
    })
}

/// Makes the samples of each planned batch and hands them, in order, to
/// `consume` (wasm32: prepared on demand, no worker thread).
#[cfg(target_arch = "wasm32")]
pub fn prefetch<D: Dataset + Sync + ?Sized>(
    data: &D,
    plans: &[BatchPlan],
    _depth: usize,
    mut consume: impl FnMut(usize, Vec<Sample>) -> Result<()>,
) -> Result<()> {
    for (m, plan) in plans.iter().enumerate() {
        consume(m, make(data, plan)?)?;
    }
    Ok(())
}
