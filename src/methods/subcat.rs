//! Sub-category exploration (SC-CAM, Chang et al. CVPR20) and sub-category
//! teaching. Each parent class is split into K sub-categories by k-means on
//! the images' GAP features; a second classifier learns the K·C-way
//! sub-category labels beside the parent one (L = L_parent + λ·L_sub), which
//! forces the features to tell apart the kinds of an object rather than keep
//! only its single most discriminative part. Rounds re-cluster with the
//! features just trained. The CAM is read as the plain classifier's.
//! Sub-category teaching (`subcat_teach`) builds on the discovery and the
//! loss here.

use serde::{Deserialize, Serialize};
use weakseg_kernels::{Error, Gpu, Result};

use crate::data::{Batch, Dataset};
use crate::models::CamNet;
use crate::models::heads::CamHead;
use crate::nn::module::child;
use crate::nn::{Module, Visitor};
use crate::ops::kmeans::{KMeansSettings, kmeans};
use crate::tensor::{Tensor, no_grad};

use super::net::{Explore, MethodNet, Phase};
use super::{Build, CamMethod, Extension, TrainContext, invalid};

/// Sub-category exploration's settings (wsss-methods.md §6.10).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubcatSettings {
    /// Sub-categories per parent class (K).
    pub k: usize,
    /// Weight λ of the sub-category loss.
    pub lambda: f32,
    /// Clustering rounds after the plain classifier that seeds them.
    pub rounds: usize,
    /// Most k-means iterations.
    pub max_iter: usize,
}

impl Default for SubcatSettings {
    /// K 10, λ 5, 3 rounds, 300 k-means iterations.
    fn default() -> Self {
        SubcatSettings {
            k: 10,
            lambda: 5.0,
            rounds: 3,
            max_iter: 300,
        }
    }
}

/// Sub-category exploration's classifier (`sub.*`): bias-free 1×1 on the
/// GAP features, classes·k outputs (SC-CAM's fc8_200).
pub struct Subcat {
    settings: SubcatSettings,
    sub: CamHead,
}

impl Subcat {
    /// The sub-category classifier.
    pub fn sub(&self) -> &CamHead {
        &self.sub
    }
}

impl CamMethod for SubcatSettings {
    fn validate(&self) -> Result<()> {
        if self.k == 0 || self.rounds == 0 || self.max_iter == 0 {
            return Err(invalid("subcat", "k, rounds and max_iter must be positive"));
        }
        Ok(())
    }

    fn build(&self, mut net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Subcat {
            settings: self.clone(),
            sub: net.head(net.classes * self.k)?,
        }))
    }
}

impl Module for Subcat {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.sub.visit(&child(prefix, "sub"), v);
    }
}

impl Extension for Subcat {
    /// The plain classifier, then each round re-clustering on the base's
    /// features and training the whole network.
    fn phases<'a>(&'a self, net: &'a MethodNet) -> Vec<Phase<'a>> {
        let s = &self.settings;
        let mut out = vec![Phase::new(vec![("", &net.base)], None)];
        out.extend((0..s.rounds).map(|_| {
            let explore = Explore {
                net: &net.base,
                k: s.k,
                max_iter: s.max_iter,
            };
            Phase::new(vec![("", net)], Some(explore))
        }));
        out
    }

    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let known = ctx.subcategories.as_ref().filter(|_| ctx.round > 0);
        subcat_loss(base, &self.sub, batch, known, self.settings.lambda)
    }
}

/// The parent classes' loss plus λ times the sub-categories' (once they
/// have been discovered) on the features of `net`.
pub fn subcat_loss(
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

/// The sub-category labels of a dataset: for each sample, the sub-category
/// (parent·K + cluster) of each parent class it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Subcategories {
    /// Sub-categories per parent class.
    pub k: usize,
    /// Parent classes.
    pub classes: usize,
    /// Sub-category ids of each sample, by dataset index.
    pub table: Vec<Vec<usize>>,
}

impl Subcategories {
    /// The multi-hot targets [B, classes·k] of the samples `indices`.
    pub fn targets(&self, gpu: &Gpu, indices: &[usize]) -> Result<Tensor> {
        let width = self.classes * self.k;
        let mut hot = vec![0.0f32; indices.len() * width];
        for (row, &i) in indices.iter().enumerate() {
            let subs = self.table.get(i).ok_or_else(|| {
                Error::invalid(
                    "subcat",
                    format!(
                        "sample {i} has no sub-category labels (the table has {})",
                        self.table.len()
                    ),
                )
            })?;
            for &s in subs {
                hot[row * width + s] = 1.0;
            }
        }
        Tensor::from_slice(gpu, &hot, &[indices.len(), width])
    }
}

/// Clusters the GAP features of every sample of `data` (read un-augmented,
/// one at a time so images may differ in size), class by class, into `k`
/// sub-categories with k-means (seed 0, as SC-CAM's random_state). A class
/// held by fewer than `k` images gets one sub-category per image.
pub async fn explore(
    net: &CamNet,
    data: &dyn Dataset,
    classes: usize,
    k: usize,
    max_iter: usize,
) -> Result<Subcategories> {
    let gpu = net.head.classifier.weight.get().gpu().clone();
    let mut features = Vec::new();
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for i in 0..data.len() {
        let s = data.sample(i, 0)?;
        let x = Tensor::from_slice(&gpu, &s.image, &[1, 3, s.height, s.width])?;
        let g = no_grad(|| net.precision.features(&net.backbone, &x)?.global_avg_pool())?;
        let channels = g.shape()[1];
        features.push(g.reshape(&[1, channels])?);
        for (c, &l) in s.labels.iter().enumerate().take(classes) {
            if l > 0.5 {
                holders[c].push(i);
            }
        }
    }
    let mut table = vec![Vec::new(); data.len()];
    for (c, members) in holders.iter().enumerate() {
        if members.is_empty() {
            continue;
        }
        let rows: Vec<Tensor> = members.iter().map(|&i| features[i].clone()).collect();
        let points = Tensor::concat(&rows, 0)?;
        let fit = kmeans(
            &points,
            &KMeansSettings {
                k,
                max_iter,
                seed: 0,
                spherical: false,
            },
        )
        .await?;
        for (&i, &l) in members.iter().zip(&fit.labels) {
            table[i].push(c * k + l as usize);
        }
    }
    Ok(Subcategories { k, classes, table })
}
