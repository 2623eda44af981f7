//! Launcher for `shaders/random.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// mask[i] = draw(seed, i / group) ≥ p ? 1/(1−p) : 0: the dropout mask.
pub fn bernoulli(gpu: &Gpu, mask: View, group: usize, seed: u32, p: f32) -> Result<()> {
    if !(0.0..1.0).contains(&p) || group == 0 {
        return Err(Error::invalid(
            "dropout",
            format!("probability {p} must be in [0, 1) and group positive"),
        ));
    }
    let prm = Params::new(&[
        u32_of("dropout", mask.len)?,
        u32_of("dropout", group)?,
        seed,
    ])
    .f(3, p)
    .f(4, 1.0 / (1.0 - p));
    gpu.launch(
        "dropout",
        Kernel::new(Shader::Random, "bernoulli"),
        &prm,
        &[mask.write(1)],
        mask.len as u64,
    )
}
