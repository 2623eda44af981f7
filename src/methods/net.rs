//! The network a method trains, and how its CAMs are read: the plain CAM
//! classifier for most methods, a second classifier branch for ACoL and
//! SeeNet, MDC's dilated blocks, adversarial erasing's later rounds, or
//! the sub-category classifiers (and teacher) of sub-category methods.
//! Parameter names keep `backbone.*` and `head.classifier.*` for the first
//! (or only) classifier in every method, so the affinity stage and every
//! checkpoint reader see the same backbone.

use weakseg_kernels::{Error, Result};

use crate::cam::{self, CamSource};
use crate::models::heads::CamHead;
use crate::models::{ArchSpec, CamNet};
use crate::nn::module::child;
use crate::nn::{Builder, Module, Visitor};
use crate::tensor::{Tensor, no_grad};

use super::cosa::Cosa;
use super::mdc::MdcHead;
use super::seam::{self, Pcm};
use super::{Method, attention, erasing, subcat};

/// What a method adds to the CAM classifier.
enum Extra {
    None,
    /// ACoL's and SeeNet's branch B: `head_b.*`.
    Branch(CamHead),
    /// MDC's blocks: `mdc.*`.
    Mdc(MdcHead),
    /// Adversarial erasing's rounds after the first: `round{r}.*`.
    Rounds(Vec<CamNet>),
    /// Sub-category exploration's classifier: `sub.*`.
    Sub(CamHead),
    /// Sub-category teaching: the student's sub-category classifier
    /// (`sub.*`) and the teacher network with its own (`teacher.*`,
    /// `teacher_sub.*`).
    Teach {
        sub: CamHead,
        teacher: Box<CamNet>,
        teacher_sub: CamHead,
    },
    /// SEAM's pixel correlation module: `pcm.*`.
    Pcm(Pcm),
    /// CS-AE's ordinary classifier: `ordinary.*`.
    Ordinary(Box<CamNet>),
    /// CoSA's heads and assignment network: `aux.*`, `seg.*`, `assign.*`.
    Cosa(Box<Cosa>),
}

/// Named parts of a network trained together: what one training phase
/// optimises and checkpoints. A part named "" keeps its own names.
pub struct Parts<'a>(Vec<(&'static str, &'a dyn Module)>);

impl<'a> Parts<'a> {
    /// Parts under their names ("" keeps a part's own names).
    pub fn new(parts: Vec<(&'static str, &'a dyn Module)>) -> Self {
        Parts(parts)
    }
}

impl Module for Parts<'_> {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        for (name, m) in &self.0 {
            if name.is_empty() {
                m.visit(prefix, v);
            } else {
                m.visit(&child(prefix, name), v);
            }
        }
    }
}

/// Sub-category discovery to run before a phase: k-means with `k` clusters
/// per class on the GAP features of `net`.
pub struct Explore<'a> {
    /// The network whose features are clustered.
    pub net: &'a CamNet,
    /// Sub-categories per class.
    pub k: usize,
    /// Most k-means iterations.
    pub max_iter: usize,
}

/// One phase of a method's training: the parts it trains, with sub-category
/// discovery first where the method asks for it.
pub struct Phase<'a> {
    /// The parameters this phase optimises.
    pub model: Parts<'a>,
    /// Sub-categories to (re)discover before the phase.
    pub explore: Option<Explore<'a>>,
}

/// A method's classifier: the base CAM network and what the method adds.
pub struct MethodNet {
    /// The method (and settings) the network was built for.
    pub method: Method,
    /// The backbone and first classifier (branch A; AE's first round).
    pub base: CamNet,
    extra: Extra,
}

impl MethodNet {
    /// The network of `method` for `arch` and `classes` classes.
    pub fn new(b: &mut Builder, method: &Method, arch: &ArchSpec, classes: usize) -> Result<Self> {
        method.validate()?;
        let base = CamNet::new(b, arch, classes)?;
        let c = base.backbone.out_channels();
        let extra = match method {
            Method::Acol(_) | Method::Seenet(_) => Extra::Branch(CamHead::new(b, c, classes)?),
            Method::Mdc(s) => Extra::Mdc(MdcHead::new(b, c, classes, &s.dilations)?),
            Method::Ae(s) => Extra::Rounds(
                (1..s.rounds)
                    .map(|_| CamNet::new(b, arch, classes))
                    .collect::<Result<Vec<_>>>()?,
            ),
            Method::Subcat(s) => Extra::Sub(subcat::head(b, c, classes, s.k)?),
            Method::Csae(_) => Extra::Ordinary(Box::new(CamNet::new(b, arch, classes)?)),
            Method::Seam(_) => Extra::Pcm(Pcm::new(b, &base.backbone.tap_channels())?),
            Method::Cosa(s) => Extra::Cosa(Box::new(Cosa::new(b, &base, arch, classes, s)?)),
            Method::SubcatTeach(s) => {
                let sub = subcat::head(b, c, classes, s.k)?;
                let teacher = Box::new(CamNet::new(b, arch, classes)?);
                let teacher_sub = subcat::head(b, c, classes, s.k)?;
                Extra::Teach {
                    sub,
                    teacher,
                    teacher_sub,
                }
            }
            _ => Extra::None,
        };
        Ok(MethodNet {
            method: method.clone(),
            base,
            extra,
        })
    }

    /// Image-level logits [N, K] of the first classifier (branch A, AE's
    /// first round): what tells which classes an unlabelled image holds.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.base.logits(x)
    }

    /// Adversarial erasing's classifiers in training order (one for every
    /// other method: the base).
    pub fn rounds(&self) -> Vec<&CamNet> {
        let mut all = vec![&self.base];
        if let Extra::Rounds(r) = &self.extra {
            all.extend(r.iter());
        }
        all
    }

    /// The training phases in order: adversarial erasing's rounds; CS-AE's
    /// ordinary classifier then its erasing network; the
    /// plain classifier then each sub-category round; sub-category
    /// teaching's teacher rounds then its student; one phase training the
    /// whole network for every other method.
    pub fn phases(&self) -> Vec<Phase<'_>> {
        fn phase<'a>(
            model: Vec<(&'static str, &'a dyn Module)>,
            explore: Option<Explore<'a>>,
        ) -> Phase<'a> {
            Phase {
                model: Parts(model),
                explore,
            }
        }
        match (&self.method, &self.extra) {
            (Method::Ae(_), _) => self
                .rounds()
                .into_iter()
                .map(|r| phase(vec![("", r as &dyn Module)], None))
                .collect(),
            (Method::Subcat(s), _) => {
                let mut out = vec![phase(vec![("", &self.base)], None)];
                out.extend((0..s.rounds).map(|_| {
                    let explore = Explore {
                        net: &self.base,
                        k: s.k,
                        max_iter: s.max_iter,
                    };
                    phase(vec![("", self)], Some(explore))
                }));
                out
            }
            (
                Method::SubcatTeach(s),
                Extra::Teach {
                    sub,
                    teacher,
                    teacher_sub,
                },
            ) => {
                let teacher_parts = || -> Vec<(&'static str, &dyn Module)> {
                    vec![("teacher", teacher), ("teacher_sub", teacher_sub)]
                };
                let mut out = vec![phase(vec![("teacher", teacher)], None)];
                out.extend((0..s.teacher_rounds).map(|_| {
                    let explore = Explore {
                        net: teacher,
                        k: s.k,
                        max_iter: s.max_iter,
                    };
                    phase(teacher_parts(), Some(explore))
                }));
                out.push(phase(vec![("", &self.base), ("sub", sub)], None));
                out
            }
            (Method::Csae(_), Extra::Ordinary(ordinary)) => vec![
                phase(vec![("ordinary", ordinary)], None),
                phase(vec![("", &self.base)], None),
            ],
            _ => vec![phase(vec![("", self)], None)],
        }
    }

    /// CS-AE's ordinary classifier.
    pub fn ordinary(&self) -> Result<&CamNet> {
        match &self.extra {
            Extra::Ordinary(n) => Ok(n),
            _ => Err(Error::invalid(
                self.method.name(),
                "has no ordinary classifier",
            )),
        }
    }

    /// The sub-category classifier of the network being trained (the
    /// student's under sub-category teaching).
    pub fn sub(&self) -> Result<&CamHead> {
        match &self.extra {
            Extra::Sub(h) | Extra::Teach { sub: h, .. } => Ok(h),
            _ => Err(Error::invalid(
                self.method.name(),
                "has no sub-category classifier",
            )),
        }
    }

    /// CoSA's heads and assignment network.
    pub fn cosa(&self) -> Result<&Cosa> {
        match &self.extra {
            Extra::Cosa(c) => Ok(c),
            _ => Err(Error::invalid(self.method.name(), "has no CoSA parts")),
        }
    }

    /// SEAM's pixel correlation module.
    pub fn pcm(&self) -> Result<&Pcm> {
        match &self.extra {
            Extra::Pcm(p) => Ok(p),
            _ => Err(Error::invalid(self.method.name(), "has no PCM")),
        }
    }

    /// Sub-category teaching's teacher and its sub-category classifier.
    pub fn teacher(&self) -> Result<(&CamNet, &CamHead)> {
        match &self.extra {
            Extra::Teach {
                teacher,
                teacher_sub,
                ..
            } => Ok((teacher, teacher_sub)),
            _ => Err(Error::invalid(self.method.name(), "has no teacher")),
        }
    }

    /// Branch B of ACoL and SeeNet.
    pub fn branch(&self) -> Option<&CamHead> {
        match &self.extra {
            Extra::Branch(h) => Some(h),
            _ => None,
        }
    }

    /// MDC's blocks.
    pub fn mdc(&self) -> Option<&MdcHead> {
        match &self.extra {
            Extra::Mdc(m) => Some(m),
            _ => None,
        }
    }

    /// Branch B's input: the features erased (ACoL) or C-ReLU'd (SeeNet)
    /// where branch A's attention for the classes in `labels` [B, K] is
    /// high. The mask is a constant of the step.
    pub fn erase_for_branch(
        &self,
        features: &Tensor,
        cams_a: &Tensor,
        labels: &Tensor,
    ) -> Result<Tensor> {
        let factor = match &self.method {
            // ACoL erases where the min-max normalised map is ≥ the
            // threshold (`torch.ge`).
            Method::Acol(s) => attention::keep_below(
                &attention::min_max_attention(cams_a, labels, false)?,
                s.threshold - f32::EPSILON,
            )?,
            Method::Seenet(s) => attention::ternary(
                &attention::min_max_attention(cams_a, labels, true)?,
                s.low,
                s.high,
            )?,
            other => {
                return Err(Error::invalid(
                    other.name(),
                    "has no second branch to erase for",
                ));
            }
        };
        features.mul(&factor)
    }
}

impl CamSource for MethodNet {
    /// The method's maps: the CAM; for SEAM the PCM's propagated maps; for
    /// CoSA the assignment network's CAM; for
    /// ACoL the maximum of both branches' min-max normalised maps, for
    /// SeeNet of both branches' normalised maps; for MDC the undilated block's map plus
    /// the mean of the dilated ones; for adversarial erasing the maximum of
    /// the rounds' normalised maps, each round reading the image erased by
    /// the rounds before it.
    /// SEAM's inference min-max normalises (`infer_SEAM.py:72–77`); the
    /// others divide by the maximum as psa and IRN do.
    fn normalisation(&self) -> cam::Normalisation {
        match self.extra {
            Extra::Pcm(_) => cam::Normalisation::MinMax,
            _ => cam::Normalisation::Max,
        }
    }

    fn cam_maps(&self, x: &Tensor, present: &[bool]) -> Result<Tensor> {
        no_grad(|| match &self.extra {
            Extra::None | Extra::Sub(_) | Extra::Teach { .. } | Extra::Ordinary(_) => {
                self.base.cam_maps(x, present)
            }
            Extra::Pcm(pcm) => seam::cam_maps(&self.base, pcm, x, present),
            Extra::Cosa(c) => c.assign.cam_maps(x, present),
            Extra::Branch(head_b) => {
                let net = &self.base;
                let f = net.precision.features(&net.backbone, x)?;
                let labels = attention::present_labels(x.gpu(), present, x.shape()[0])?;
                let a = net.head.cams(&f)?;
                let b = head_b.cams(&self.erase_for_branch(&f, &a, &labels)?)?;
                let keep = attention::per_map(&labels)?;
                let (na, nb) = match &self.method {
                    // ACoL's localisation map: the maximum of both
                    // branches' min-max normalised maps
                    // (`get_localization_maps`).
                    Method::Acol(_) => (
                        attention::min_max(&a, false, 1e-8)?,
                        attention::min_max(&b, false, 1e-8)?,
                    ),
                    _ => (attention::normalised(&a)?, attention::normalised(&b)?),
                };
                na.maximum(&nb)?.mul(&keep)
            }
            Extra::Mdc(mdc) => {
                let net = &self.base;
                let f = net.precision.features(&net.backbone, x)?;
                let blocks = mdc.blocks(&f)?;
                let mut dilated: Option<Tensor> = None;
                for (i, g) in blocks.iter().enumerate().skip(1) {
                    let m = cam::maps(
                        g,
                        &mdc.classifier(&net.head, i).classifier.weight.get(),
                        present,
                    )?;
                    dilated = Some(match dilated {
                        None => m,
                        Some(d) => d.add(&m)?,
                    });
                }
                let base = cam::maps(&blocks[0], &net.head.classifier.weight.get(), present)?;
                match dilated {
                    Some(d) => base.add(&d.mul_scalar(1.0 / (blocks.len() - 1) as f32)?),
                    None => Ok(base),
                }
            }
            Extra::Rounds(_) => {
                let Method::Ae(s) = &self.method else {
                    return Err(Error::invalid("ae", "rounds without AE settings"));
                };
                let labels = attention::present_labels(x.gpu(), present, x.shape()[0])?;
                let mut x = x.clone();
                let mut union: Option<Tensor> = None;
                for net in self.rounds() {
                    let (maps, erased) = erasing::mine(net, &x, &labels, s.threshold)?;
                    x = erased;
                    union = Some(match union {
                        None => maps,
                        Some(u) => u.maximum(&maps)?,
                    });
                }
                union.ok_or_else(|| Error::invalid("ae", "no rounds"))
            }
        })
    }
}

impl Module for MethodNet {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.base.visit(prefix, v);
        match &self.extra {
            Extra::None => {}
            Extra::Branch(h) => h.visit(&child(prefix, "head_b"), v),
            Extra::Mdc(m) => m.visit(&child(prefix, "mdc"), v),
            Extra::Rounds(r) => {
                for (i, net) in r.iter().enumerate() {
                    net.visit(&child(prefix, &format!("round{}", i + 1)), v);
                }
            }
            Extra::Sub(h) => h.visit(&child(prefix, "sub"), v),
            Extra::Pcm(p) => p.visit(&child(prefix, "pcm"), v),
            Extra::Ordinary(n) => n.visit(&child(prefix, "ordinary"), v),
            Extra::Cosa(c) => c.visit(prefix, v),
            Extra::Teach {
                sub,
                teacher,
                teacher_sub,
            } => {
                sub.visit(&child(prefix, "sub"), v);
                teacher.visit(&child(prefix, "teacher"), v);
                teacher_sub.visit(&child(prefix, "teacher_sub"), v);
            }
        }
    }
}
