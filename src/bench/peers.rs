//! Inputs and results of the cases CPU peers are checked against: the peer
//! scripts (`peers/numpy`) read them, verify that they compute the same
//! result, and only then time themselves.

use std::path::Path;

use super::{conv_cases, tensor};
use crate::io::npy;
use crate::{Gpu, Result, Tensor};

fn save(dir: &Path, name: &str, t: &Tensor) -> Result<()> {
    npy::write(
        &dir.join(format!("{name}.npy")),
        t.shape(),
        &t.to_vec_blocking::<f32>()?,
    )
}

/// Writes `matmul_512_{a,b,c}.npy` (C = A·B) and, for
/// `conv3x3_n8_c32_64`, `…_{x,w,y,dy,dx,dw}.npy`: input, weight, output,
/// the output gradient and the input and weight gradients it gives.
pub fn write_reference(gpu: &Gpu, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| crate::Error::io(dir.display(), e))?;
    let n = 512;
    let a = tensor(gpu, &[n, n], 1)?;
    let b = tensor(gpu, &[n, n], 2)?;
    save(dir, "matmul_512_a", &a)?;
    save(dir, "matmul_512_b", &b)?;
    save(dir, "matmul_512_c", &a.matmul(&b)?)?;
    let c = conv_cases()[0];
    let x_shape = [c.n, c.cin, c.size, c.size];
    let w_shape = [c.cout, c.cin, c.k, c.k];
    let x = tensor(gpu, &x_shape, 3)?.requires_grad_();
    let w = tensor(gpu, &w_shape, 4)?.requires_grad_();
    let y = x.conv2d(&w, None, c.opts)?;
    let dy = tensor(gpu, y.shape(), 5)?;
    y.backward_with(dy.clone())?;
    let grad = |t: &Tensor| {
        t.grad()
            .ok_or_else(|| crate::Error::invalid("bench reference", "no gradient recorded"))
    };
    for (suffix, t) in [
        ("x", x.detach()),
        ("w", w.detach()),
        ("y", y.detach()),
        ("dy", dy),
        ("dx", grad(&x)?),
        ("dw", grad(&w)?),
    ] {
        save(dir, &format!("{}_{suffix}", c.name), &t)?;
    }
    Ok(())
}
