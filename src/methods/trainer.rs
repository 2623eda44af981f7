//! The training loss of each method on a batch: what the `train-cls` stage
//! hands to the training loop. Random choices (patches, λ, masks, the mixed
//! stage) come from a generator seeded by the stage's seed, so a run is
//! reproducible.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg_kernels::{Error, Result};

use crate::data::Batch;
use crate::tensor::Tensor;

use super::net::MethodNet;
use super::{Method, erasing, mixing};

/// A method's loss with its random state and, for adversarial erasing, the
/// round being trained.
pub struct Trainer {
    rng: SmallRng,
    round: usize,
}

impl Trainer {
    /// A trainer whose random choices follow `seed`.
    pub fn new(seed: u64) -> Trainer {
        Trainer {
            rng: SmallRng::seed_from_u64(crate::data::mix_seed(seed, 0x6d65_7468)),
            round: 0,
        }
    }

    /// Selects adversarial erasing's round (0 first); other methods have
    /// round 0 only.
    pub fn set_round(&mut self, round: usize) {
        self.round = round;
    }

    /// The loss of `batch` under `net`'s method. The multilabel soft-margin
    /// loss (BCE with logits, averaged) is every method's classification
    /// term; two-branch methods sum their branches'; MDC averages its
    /// blocks'.
    pub fn loss(&mut self, net: &MethodNet, batch: &Batch) -> Result<Tensor> {
        let (x, y) = (&batch.images, &batch.labels);
        let base = &net.base;
        match &net.method {
            Method::Cam => base.logits(x)?.bce_with_logits(y),
            Method::Has(s) => {
                let sh = x.shape();
                let (n, h, w) = (sh[0], sh[2], sh[3]);
                let keep = erasing::hide_patches(s, n, h, w, &mut self.rng);
                let keep = Tensor::from_slice(x.gpu(), &keep, &[n, 1, h, w])?;
                base.logits(&x.mul(&keep)?)?.bce_with_logits(y)
            }
            Method::Acol(_) | Method::Seenet(_) => {
                let head_b = net
                    .branch()
                    .ok_or_else(|| Error::invalid(net.method.name(), "network lacks branch B"))?;
                let f = base.precision.features(&base.backbone, x)?;
                let a = base.head.cams(&f)?;
                let fb = net.erase_for_branch(&f, &a, y)?;
                base.head
                    .logits(&f)?
                    .bce_with_logits(y)?
                    .add(&head_b.logits(&fb)?.bce_with_logits(y)?)
            }
            Method::Gain(s) => erasing::gain_loss(base, x, y, s),
            Method::Mdc(_) => {
                let mdc = net
                    .mdc()
                    .ok_or_else(|| Error::invalid("mdc", "network lacks the MDC blocks"))?;
                let f = base.precision.features(&base.backbone, x)?;
                let blocks = mdc.blocks(&f)?;
                let mut total: Option<Tensor> = None;
                for (i, g) in blocks.iter().enumerate() {
                    let l = mdc
                        .classifier(&base.head, i)
                        .logits(g)?
                        .bce_with_logits(y)?;
                    total = Some(match total {
                        None => l,
                        Some(t) => t.add(&l)?,
                    });
                }
                total
                    .ok_or_else(|| Error::invalid("mdc", "no blocks"))?
                    .mul_scalar(1.0 / blocks.len() as f32)
            }
            Method::Mixup(s) => mixing::mixup_loss(base, batch, s, &mut self.rng),
            Method::Fmix(s) => mixing::fmix_loss(base, batch, s, &mut self.rng),
            Method::Manifold(s) => mixing::manifold_loss(base, batch, s, &mut self.rng),
            Method::Ae(s) => {
                let rounds = net.rounds();
                let current = rounds.get(self.round).ok_or_else(|| {
                    Error::invalid("ae", format!("round {} of {}", self.round, rounds.len()))
                })?;
                let erased = erasing::erase_mined(&rounds[..self.round], x, y, s.threshold)?;
                current.logits(&erased)?.bce_with_logits(y)
            }
        }
    }
}
