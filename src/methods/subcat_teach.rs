//! Sub-category teaching: a teacher trained as sub-category exploration
//! (its own plain phase, then its clustering rounds) whose soft
//! sub-category predictions, rather than hard cluster labels, are
//! distilled into a fresh student beside the parent labels
//! (L = L_parent + λ·BCE(student_sub, σ(teacher_sub))). The student's CAM
//! is read as the plain classifier's.

use serde::{Deserialize, Serialize};
use weakseg_kernels::Result;

use crate::data::Batch;
use crate::models::CamNet;
use crate::models::heads::CamHead;
use crate::nn::module::child;
use crate::nn::{Module, Visitor};
use crate::tensor::{Tensor, no_grad};

use super::net::{Explore, MethodNet, Phase};
use super::subcat::subcat_loss;
use super::{Build, CamMethod, Extension, TrainContext, invalid};

/// Sub-category teaching's settings: the teacher is a sub-category network
/// trained as [`SubcatSettings`](super::SubcatSettings) say; the student learns the parent labels
/// plus the teacher's sub-category probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SubcatTeachSettings {
    /// Sub-categories per parent class (K).
    pub k: usize,
    /// Weight λ of the teacher's sub-category term (on the teacher and in
    /// the student's distillation loss alike).
    pub lambda: f32,
    /// The teacher's clustering rounds.
    pub teacher_rounds: usize,
    /// Most k-means iterations.
    pub max_iter: usize,
}

impl Default for SubcatTeachSettings {
    /// K 10, λ 5, one teacher round (ours: the seed project gives no
    /// settings), 300 k-means iterations.
    fn default() -> Self {
        SubcatTeachSettings {
            k: 10,
            lambda: 5.0,
            teacher_rounds: 1,
            max_iter: 300,
        }
    }
}

/// The student's sub-category classifier (`sub.*`) and the teacher network
/// with its own (`teacher.*`, `teacher_sub.*`).
pub struct Teach {
    settings: SubcatTeachSettings,
    sub: CamHead,
    teacher: CamNet,
    teacher_sub: CamHead,
}

impl Teach {
    /// The student's sub-category classifier.
    pub fn sub(&self) -> &CamHead {
        &self.sub
    }

    /// The teacher and its sub-category classifier.
    pub fn teacher(&self) -> (&CamNet, &CamHead) {
        (&self.teacher, &self.teacher_sub)
    }
}

impl CamMethod for SubcatTeachSettings {
    fn validate(&self) -> Result<()> {
        if self.k == 0 || self.max_iter == 0 {
            return Err(invalid("subcat-teach", "k and max_iter must be positive"));
        }
        Ok(())
    }

    fn build(&self, mut net: Build) -> Result<Box<dyn Extension>> {
        Ok(Box::new(Teach {
            settings: self.clone(),
            sub: net.head(net.classes * self.k)?,
            teacher: net.classifier()?,
            teacher_sub: net.head(net.classes * self.k)?,
        }))
    }
}

impl Module for Teach {
    fn visit(&self, prefix: &str, v: &mut dyn Visitor) {
        self.sub.visit(&child(prefix, "sub"), v);
        self.teacher.visit(&child(prefix, "teacher"), v);
        self.teacher_sub.visit(&child(prefix, "teacher_sub"), v);
    }
}

impl Extension for Teach {
    /// The teacher's plain phase, its clustering rounds, then the student.
    fn phases<'a>(&'a self, net: &'a MethodNet) -> Vec<Phase<'a>> {
        let s = &self.settings;
        let teacher_parts = || -> Vec<(&'static str, &dyn Module)> {
            vec![
                ("teacher", &self.teacher),
                ("teacher_sub", &self.teacher_sub),
            ]
        };
        let mut out = vec![Phase::new(vec![("teacher", &self.teacher)], None)];
        out.extend((0..s.teacher_rounds).map(|_| {
            let explore = Explore {
                net: &self.teacher,
                k: s.k,
                max_iter: s.max_iter,
            };
            Phase::new(teacher_parts(), Some(explore))
        }));
        out.push(Phase::new(vec![("", &net.base), ("sub", &self.sub)], None));
        out
    }

    fn loss(&self, base: &CamNet, batch: &Batch, ctx: &mut TrainContext) -> Result<Tensor> {
        let s = &self.settings;
        let (x, y) = (&batch.images, &batch.labels);
        let (teacher, teacher_sub) = (&self.teacher, &self.teacher_sub);
        if ctx.round <= s.teacher_rounds {
            let known = ctx.subcategories.as_ref().filter(|_| ctx.round > 0);
            return subcat_loss(teacher, teacher_sub, batch, known, s.lambda);
        }
        let soft = no_grad(|| {
            let f = teacher.precision.features(&teacher.backbone, x)?;
            teacher_sub.logits(&f)?.sigmoid()
        })?;
        let f = base.precision.features(&base.backbone, x)?;
        base.head.logits(&f)?.bce_with_logits(y)?.add(
            &self
                .sub
                .logits(&f)?
                .bce_with_logits(&soft)?
                .mul_scalar(s.lambda)?,
        )
    }

    fn backbones(&self) -> Vec<&CamNet> {
        vec![&self.teacher]
    }
}
