//! Launcher for `shaders/scan.wgsl`.

use crate::batch::Params;
use crate::device::Gpu;
use crate::error::Result;
use crate::pipeline::Kernel;
use crate::shaders::Shader;
use crate::view::{View, u32_of};

/// Elements each invocation scans serially.
const CHUNK: usize = 64;

/// data ← exclusive prefix sum of data (u32, wrapping). Give `data` one
/// trailing zero to receive the total. Chunk totals are scanned recursively
/// in pooled scratch buffers.
pub fn exclusive_scan(gpu: &Gpu, data: View) -> Result<()> {
    let n = data.len;
    if n == 0 {
        return Ok(());
    }
    let chunks = n.div_ceil(CHUNK);
    let totals = gpu.alloc(chunks as u64 * 4)?;
    let tv = View::new(&totals, chunks);
    let p = Params::new(&[u32_of("scan", n)?, CHUNK as u32]);
    gpu.launch(
        "scan",
        Kernel::new(Shader::Scan, "chunk_scan"),
        &p,
        &[data.write(1), tv.write(2)],
        chunks as u64,
    )?;
    if chunks == 1 {
        return Ok(());
    }
    exclusive_scan(gpu, tv)?;
    gpu.launch(
        "scan",
        Kernel::new(Shader::Scan, "chunk_add"),
        &p,
        &[data.write(1), tv.read(3)],
        n as u64,
    )
}
