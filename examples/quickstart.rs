//! The README's library example: a tiny CAM-style classifier trained for ten steps.

use weakseg::optim::{LrSchedule, ParamGroup, Sgd};
use weakseg::{ConvOpts, Gpu, Tensor};

fn main() -> weakseg::Result<()> {
    let gpu = Gpu::new_blocking()?; // honours WGPU_BACKEND / WGPU_ADAPTER_NAME
    let x = Tensor::from_slice(&gpu, &vec![0.5f32; 2 * 3 * 16 * 16], &[2, 3, 16, 16])?;
    let y = Tensor::from_slice(&gpu, &[1.0f32, 0.0, 0.0, 1.0], &[2, 2])?;
    let w = Tensor::from_slice(&gpu, &vec![0.01f32; 8 * 3 * 9], &[8, 3, 3, 3])?.requires_grad_();
    let fc = Tensor::from_slice(&gpu, &[0.1f32; 8 * 2], &[8, 2])?.requires_grad_();
    let mut opt = Sgd::new(
        vec![ParamGroup::new(vec![w.clone(), fc.clone()])],
        0.1,
        0.9,
        1e-4,
        false,
    )?;
    let schedule = LrSchedule::Poly {
        power: 0.9,
        warmup: 0,
        warmup_ratio: 1.0,
    };
    for step in 0..10 {
        opt.lr = schedule.at(0.1, step, 10);
        opt.zero_grad()?;
        let feat = x.conv2d(&w, None, ConvOpts::new(1, 1, 1, 1))?.relu()?;
        let loss = feat.global_avg_pool()?.matmul(&fc)?.bce_with_logits(&y)?; // multilabel soft-margin
        loss.backward()?;
        opt.step()?;
        println!("step {step}: loss {}", loss.item()?); // native; on wasm: loss.to_vec::<f32>().await
    }
    Ok(())
}
