//! The training loop's view of a method: [`Trainer`] hands each batch to
//! the method's [`Extension::loss`](super::Extension::loss) with a
//! [`TrainContext`]. Random choices (patches, λ, masks, the mixed stage)
//! come from a generator seeded by the stage's seed, so a run is
//! reproducible.

use std::any::Any;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg_kernels::{Error, Result};

use crate::data::Batch;
use crate::tensor::Tensor;

use super::net::MethodNet;
use super::subcat::Subcategories;

/// What a method's loss may read and keep between steps: the random
/// generator, the phase being trained, the sub-categories last discovered,
/// the run's length and the method's own state.
pub struct TrainContext {
    /// The run's generator (seeded by the stage's seed).
    pub rng: SmallRng,
    /// The phase being trained (0 first; see
    /// [`Extension::phases`](super::Extension::phases)).
    pub round: usize,
    /// The sub-categories discovered before this phase, if any.
    pub subcategories: Option<Subcategories>,
    /// The optimiser steps the run will take, when known.
    pub total_steps: Option<u64>,
    state: Option<Box<dyn Any>>,
}

impl TrainContext {
    /// The method's state between steps: `init()` on first use, then the
    /// same value. Errors if an earlier call kept a different type.
    pub fn state<T: 'static>(&mut self, init: impl FnOnce() -> T) -> Result<&mut T> {
        let slot = self.state.get_or_insert_with(|| Box::new(init()));
        slot.downcast_mut()
            .ok_or_else(|| Error::invalid("method", "training state of another type"))
    }
}

/// A method's loss with its [`TrainContext`].
pub struct Trainer {
    ctx: TrainContext,
}

impl Trainer {
    /// A trainer whose random choices follow `seed`.
    pub fn new(seed: u64) -> Trainer {
        Trainer {
            ctx: TrainContext {
                rng: SmallRng::seed_from_u64(crate::data::mix_seed(seed, 0x6d65_7468)),
                round: 0,
                subcategories: None,
                total_steps: None,
                state: None,
            },
        }
    }

    /// The optimiser steps the run will take: what CoSA scales its
    /// averaging horizon and warm-up to (its reference length when unset).
    pub fn set_total_steps(&mut self, steps: u64) {
        self.ctx.total_steps = Some(steps);
    }

    /// The sub-category labels the next phases learn.
    pub fn set_subcategories(&mut self, s: Subcategories) {
        self.ctx.subcategories = Some(s);
    }

    /// Selects the phase being trained (0 first; see
    /// [`MethodNet::phases`]).
    pub fn set_round(&mut self, round: usize) {
        self.ctx.round = round;
    }

    /// The loss of `batch` under `net`'s method in the current phase.
    pub async fn loss(&mut self, net: &MethodNet, batch: &Batch) -> Result<Tensor> {
        net.hooks()
            .loss_async(&net.base, batch, &mut self.ctx)
            .await
    }
}
