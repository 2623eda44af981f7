//! The training loss of each method on a batch: what the `train-cls` stage
//! hands to the training loop. Random choices (patches, λ, masks, the mixed
//! stage) come from a generator seeded by the stage's seed, so a run is
//! reproducible.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use weakseg_kernels::{Error, Result};

use crate::data::Batch;
use crate::tensor::Tensor;

use crate::models::CamNet;
use crate::models::heads::CamHead;
use crate::tensor::no_grad;

use super::cosa::{self, CosaState};
use super::net::MethodNet;
use super::subcat::Subcategories;
use super::{Method, csae, erasing, mixing, seam};

/// A method's loss with its random state, the phase being trained and, for
/// the sub-category methods, the sub-categories last discovered.
pub struct Trainer {
    rng: SmallRng,
    round: usize,
    subcategories: Option<Subcategories>,
    total_steps: Option<u64>,
    cosa: Option<CosaState>,
}

/// The parent classes' loss plus λ times the sub-categories' (once they
/// have been discovered) on the features of `net`.
fn subcat_loss(
    net: &CamNet,
    sub: &CamHead,
    batch: &Batch,
    subcategories: Option<&Subcategories>,
    lambda: f32,
) -> Result<Tensor> {
    let f = net.precision.features(&net.backbone, &batch.images)?;
    let parent = net.head.logits(&f)?.bce_with_logits(&batch.labels)?;
    match subcategories {
        None => Ok(parent),
        Some(sc) => {
            let target = sc.targets(batch.images.gpu(), &batch.indices)?;
            parent.add(
                &sub.logits(&f)?
                    .bce_with_logits(&target)?
                    .mul_scalar(lambda)?,
            )
        }
    }
}

impl Trainer {
    /// A trainer whose random choices follow `seed`.
    pub fn new(seed: u64) -> Trainer {
        Trainer {
            rng: SmallRng::seed_from_u64(crate::data::mix_seed(seed, 0x6d65_7468)),
            round: 0,
            subcategories: None,
            total_steps: None,
            cosa: None,
        }
    }

    /// The optimiser steps the run will take: what CoSA scales its
    /// averaging horizon and warm-up to (its reference length when unset).
    pub fn set_total_steps(&mut self, steps: u64) {
        self.total_steps = Some(steps);
    }

    /// The sub-category labels the next phases learn.
    pub fn set_subcategories(&mut self, s: Subcategories) {
        self.subcategories = Some(s);
    }

    /// Selects the phase being trained (0 first; see
    /// [`MethodNet::phases`]).
    pub fn set_round(&mut self, round: usize) {
        self.round = round;
    }

    /// The loss of `batch` under `net`'s method. The multilabel soft-margin
    /// loss (BCE with logits, averaged) is every method's classification
    /// term; two-branch methods sum their branches'; MDC averages its
    /// blocks'.
    pub async fn loss(&mut self, net: &MethodNet, batch: &Batch) -> Result<Tensor> {
        let (x, y) = (&batch.images, &batch.labels);
        let base = &net.base;
        match &net.method {
            Method::Cam | Method::Rib(_) => base.logits(x)?.bce_with_logits(y),
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
            Method::Seam(s) => seam::loss(base, net.pcm()?, batch, s),
            Method::Cosa(s) => {
                let total = self.total_steps.unwrap_or(s.reference_steps);
                let state = self.cosa.get_or_insert_with(|| CosaState::new(s, total));
                cosa::loss(base, net.cosa()?, batch, s, state).await
            }
            Method::Csae(s) => {
                let ordinary = net.ordinary()?;
                if self.round == 0 {
                    ordinary.logits(x)?.bce_with_logits(y)
                } else {
                    csae::loss(base, ordinary, x, y, s, &mut self.rng)
                }
            }
            Method::Subcat(s) => {
                let known = self.subcategories.as_ref().filter(|_| self.round > 0);
                subcat_loss(base, net.sub()?, batch, known, s.lambda)
            }
            Method::SubcatTeach(s) => {
                let (teacher, teacher_sub) = net.teacher()?;
                if self.round <= s.teacher_rounds {
                    let known = self.subcategories.as_ref().filter(|_| self.round > 0);
                    return subcat_loss(teacher, teacher_sub, batch, known, s.lambda);
                }
                let soft = no_grad(|| {
                    let f = teacher.precision.features(&teacher.backbone, x)?;
                    teacher_sub.logits(&f)?.sigmoid()
                })?;
                let f = base.precision.features(&base.backbone, x)?;
                base.head.logits(&f)?.bce_with_logits(y)?.add(
                    &net.sub()?
                        .logits(&f)?
                        .bce_with_logits(&soft)?
                        .mul_scalar(s.lambda)?,
                )
            }
        }
    }
}
