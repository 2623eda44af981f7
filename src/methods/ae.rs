//! Adversarial erasing (Wei et al. CVPR17): classifiers trained in turn,
//! each on the images erased by the rounds before it, so each must find
//! what the earlier ones did not; the CAM is the union (maximum) of the
//! rounds' normalised maps, each round reading the image erased by the
//! rounds before it.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Result};

use crate::data::Batch;
use crate::models::CamNet;
use crate::nn::module::child;
use crate::nn::{Module, Visitor};
use crate::ops::resize::ResizeMode;
use crate::tensor::{Tensor, no_grad};

use super::net::{MethodNet, Phase};
use super::{Build, CamMethod, Extension, TrainContext, attention, invalid};

/// Adversarial erasing's settings (Wei et al. CVPR17).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AeSettings {
    /// Classifiers trained in turn, each on images erased by the ones
    /// before (the paper's 3 steps).
    pub rounds: usize,
    /// A region is mined (and erased for later rounds) where a round's
    /// normalised CAM of a present class exceeds this.
    pub threshold: f32,
}

impl Default for AeSettings {
    /// 3 rounds, erasing above 0.5 of each class's peak.
    fn default() -> Self {
        AeSettings {
            rounds: 3,
            threshold: 0.5,
        }
    }
}

/// Adversarial erasing's rounds after the first (`round{r}.*`); the
/// first is the base classifier.
pub struct Ae {
    settings: AeSettings,
    rounds: Vec<CamNet>,
}

impl CamMethod for AeSettings {
    fn validate(&self) -> Result<()> {
        if self.rounds == 0 {
            return Err(invalid("ae", "needs at least one round"));
        }
        if !(0.0..1.0).contains(&self.threshold) {
            return Err(invalid("ae", "the erasing threshold must lie in [0, 1)"));
        }
        Ok(())
    }

    fn build(&self, mut net: Build) -> Result<Box<dyn Extension>> {
        let rounds = (1..self.rounds)
            .map(|_| net.classifier())
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Ae {
            settings: self.clone(),
            rounds,
        }))
    }
}

impl Ae {
    /// The classifiers in training order: `base`, then the later rounds.
    fn all<'a>(&'a self, base: &'a CamNet) -> Vec<&'a CamNet> {
        let mut all = vec![base];
        all.extend(self.rounds.iter());
        all
    }
}

impl Module for Ae {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (i, net) in self.rounds.iter().enumerate() {
            net.visit(&child(prefix, &format!("round{}", i + 1)), v);
        }
    }
}

impl Extension for Ae {
    /// One phase per round, in order.
    fn phases<'a>(&'a self, net: &'a MethodNet) -> Vec<Phase<'a>> {
        self.all(&net.base)
            .into_iter()
            .map(|r| Phase::new(vec![("", r as &dyn Module)], None))
            .collect()
    }

    /// The current round's classification loss on the images erased by
    /// the rounds before it.
    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let (x, y) = (&batch.images, &batch.labels);
        let rounds = self.all(base);
        let current = rounds.get(ctx.round).ok_or_else(|| {
            Error::invalid("ae", format!("round {} of {}", ctx.round, rounds.len()))
        })?;
        let erased = erase_mined(&rounds[..ctx.round], x, y, self.settings.threshold)?;
        current.logits(&erased)?.bce_with_logits(y)
    }

    /// The maximum of the rounds' normalised maps, each round reading the
    /// image erased by the rounds before it.
    fn cam_maps(&self, base: &CamNet, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        let labels = attention::present_labels(x.gpu(), present, x.shape()[0])?;
        let mut x = x.clone();
        let mut union: Option<Tensor> = None;
        for net in self.all(base) {
            let (maps, erased) = mine(net, &x, &labels, self.settings.threshold)?;
            x = erased;
            union = Some(match union {
                None => maps,
                Some(u) => u.maximum(&maps)?,
            });
        }
        union.ok_or_else(|| Error::invalid("ae", "no rounds"))
    }

    fn backbones(&self) -> Vec<&CamNet> {
        self.rounds.iter().collect()
    }
}

/// One adversarial-erasing round on images `x` with labels [B, K]: the
/// round's normalised maps of the present classes [B, K, h, w], and `x`
/// with the region they mine (a present class above `threshold`,
/// upsampled to the image) set to 0, the dataset mean. No autograd.
pub fn mine(net: &CamNet, x: &Tensor, labels: &Tensor, threshold: f32) -> Result<(Tensor, Tensor)> {
    no_grad(|| {
        let (h, w) = (x.shape()[2], x.shape()[3]);
        let (_, cams) = net.logits_and_cams(&x.detach())?;
        let maps = attention::normalised(&cams)?.mul(&attention::per_map(labels)?)?;
        let keep = attention::keep_below(&maps.max_axis(1, true)?.0, threshold)?
            .interpolate((h, w), ResizeMode::Nearest)?;
        Ok((maps, x.detach().mul(&keep)?))
    })
}

/// The images of one adversarial-erasing round: `x` erased in turn by each
/// of the earlier rounds `earlier` ([`mine`]), so each round sees the image
/// erased by the rounds before it. No autograd.
pub fn erase_mined(
    earlier: &[&CamNet],
    x: &Tensor,
    labels: &Tensor,
    threshold: f32,
) -> Result<Tensor> {
    let mut x = x.detach();
    for net in earlier {
        x = mine(net, &x, labels, threshold)?.1;
    }
    Ok(x)
}
