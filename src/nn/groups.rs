//! Parameter groups by recipe: which parameters are the pretrained backbone
//! and which are new layers, and how biases are treated.

use crate::nn::module::{Module, ModuleExt, Role};
use weakseg_kernels::Result;

use crate::optim::{ParamGroup, Sgd};

/// Learning-rate multipliers and bias decay of a group recipe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupRecipe {
    /// Backbone weights.
    pub backbone: f32,
    /// Backbone biases.
    pub backbone_bias: f32,
    /// New-layer weights.
    pub new: f32,
    /// New-layer biases.
    pub new_bias: f32,
    /// Whether biases get weight decay.
    pub bias_decay: bool,
}

impl GroupRecipe {
    /// psa/SEAM/SC-CAM: backbone ×1, backbone biases ×2, new layers ×10,
    /// new biases ×20; biases without weight decay.
    pub const PSA: GroupRecipe = GroupRecipe {
        backbone: 1.0,
        backbone_bias: 2.0,
        new: 10.0,
        new_bias: 20.0,
        bias_decay: false,
    };

    /// IRN: backbone ×1, new layers ×10, all with weight decay.
    pub const IRN: GroupRecipe = GroupRecipe {
        backbone: 1.0,
        backbone_bias: 1.0,
        new: 10.0,
        new_bias: 10.0,
        bias_decay: true,
    };

    /// Every parameter ×1 (training from scratch).
    pub const UNIFORM: GroupRecipe = GroupRecipe {
        backbone: 1.0,
        backbone_bias: 1.0,
        new: 1.0,
        new_bias: 1.0,
        bias_decay: true,
    };

    /// SGD with momentum 0.9 (no Nesterov) over [`GroupRecipe::groups`] of
    /// `model` at base rate `lr` and weight decay `weight_decay`: how psa,
    /// IRN and DeepLab train every network here.
    pub fn sgd(
        &self,
        model: &dyn Module,
        is_new: impl Fn(&str) -> bool,
        lr: f32,
        weight_decay: f32,
    ) -> Result<Sgd> {
        Sgd::new(self.groups(model, is_new), lr, 0.9, weight_decay, false)
    }

    /// Splits the unfrozen parameters of `model` into up to four groups;
    /// `is_new(name)` marks the layers added on top of the backbone. Empty
    /// groups are left out.
    pub fn groups(&self, model: &dyn Module, is_new: impl Fn(&str) -> bool) -> Vec<ParamGroup> {
        let decay = if self.bias_decay { 1.0 } else { 0.0 };
        let mut groups = [
            (self.backbone, 1.0, Vec::new()),
            (self.backbone_bias, decay, Vec::new()),
            (self.new, 1.0, Vec::new()),
            (self.new_bias, decay, Vec::new()),
        ];
        for (name, p) in model.named_params() {
            if p.is_frozen() {
                continue;
            }
            let slot = 2 * usize::from(is_new(&name)) + usize::from(p.role() == Role::Bias);
            groups[slot].2.push(p.leaf().clone());
        }
        groups
            .into_iter()
            .filter(|g| !g.2.is_empty())
            .map(|(lr_mult, wd_mult, params)| ParamGroup {
                params,
                lr_mult,
                wd_mult,
            })
            .collect()
    }
}
