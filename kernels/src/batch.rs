//! Command batching: dispatches are recorded into one encoder and submitted
//! together (when the batch is full, on readback, after bulk uploads, or on
//! an explicit flush). Launch parameters go into one uniform ring buffer,
//! written once per submit, so a launch allocates no GPU buffer.

use std::num::NonZeroU64;

use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pipeline::Kernel;
use crate::pool::GpuBuffer;

/// Words in a launch's parameter block (the WGSL `Params` struct).
pub const PARAM_WORDS: usize = 32;
const PARAM_BYTES: u64 = (PARAM_WORDS * 4) as u64;
/// Most dispatches a batch holds before it is submitted.
pub const MAX_BATCH: usize = 256;
/// Storage bindings a kernel may use: within WebGPU's default of 8 per stage,
/// keeping one slot spare as Metal needs.
pub const MAX_STORAGE_BINDINGS: usize = 7;
const UPLOAD_FLUSH_BYTES: u64 = 32 << 20;

/// Launch parameters: 32 words of shapes, strides and bit-cast scalars.
#[derive(Clone, Copy, Debug)]
pub struct Params(pub [u32; PARAM_WORDS]);

impl Params {
    /// Parameters from leading words; the rest are zero.
    pub fn new(words: &[u32]) -> Self {
        let mut p = [0u32; PARAM_WORDS];
        p[..words.len()].copy_from_slice(words);
        Params(p)
    }

    /// Sets word `i` to an unsigned value.
    pub fn u(mut self, i: usize, v: u32) -> Self {
        self.0[i] = v;
        self
    }

    /// Sets word `i` to a signed value.
    pub fn i(mut self, i: usize, v: i32) -> Self {
        self.0[i] = v as u32;
        self
    }

    /// Sets word `i` to a float (bit-cast).
    pub fn f(mut self, i: usize, v: f32) -> Self {
        self.0[i] = v.to_bits();
        self
    }
}

/// A range of a pooled buffer bound to one binding slot of a kernel.
#[derive(Clone, Copy, Debug)]
pub struct Bind<'a> {
    /// The binding number in group 0.
    pub binding: u32,
    /// The buffer.
    pub buffer: &'a GpuBuffer,
    /// Byte offset into it.
    pub offset: u64,
    /// Byte length of the range.
    pub size: u64,
    /// Whether the kernel writes through this binding.
    pub write: bool,
}

impl<'a> Bind<'a> {
    /// A read-only binding of `size` bytes at `offset`.
    pub fn read(binding: u32, buffer: &'a GpuBuffer, offset: u64, size: u64) -> Self {
        Bind {
            binding,
            buffer,
            offset,
            size,
            write: false,
        }
    }

    /// A writable binding of `size` bytes at `offset`.
    pub fn write(binding: u32, buffer: &'a GpuBuffer, offset: u64, size: u64) -> Self {
        Bind {
            binding,
            buffer,
            offset,
            size,
            write: true,
        }
    }
}

pub(crate) struct Batch {
    encoder: Option<wgpu::CommandEncoder>,
    ring: wgpu::Buffer,
    ring_data: Vec<u8>,
    stride: u64,
    slot: usize,
    max: usize,
    upload_bytes: u64,
    pub(crate) submits: u64,
    pub(crate) dispatches: u64,
    names: Vec<&'static str>,
}

impl Batch {
    pub(crate) fn new(device: &wgpu::Device, limits: &wgpu::Limits) -> Self {
        let stride = (limits.min_uniform_buffer_offset_alignment as u64).max(PARAM_BYTES);
        let ring = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weakseg.params"),
            size: stride * MAX_BATCH as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Batch {
            encoder: None,
            ring,
            ring_data: vec![0; (stride * MAX_BATCH as u64) as usize],
            stride,
            slot: 0,
            max: 64,
            upload_bytes: 0,
            submits: 0,
            dispatches: 0,
            names: Vec::new(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        MAX_BATCH
    }

    pub(crate) fn set_max(&mut self, n: usize) {
        self.max = n.clamp(1, MAX_BATCH);
    }

    /// Records an upload; true when enough bytes are staged that a submit is due.
    pub(crate) fn note_upload(&mut self, bytes: u64) -> bool {
        self.upload_bytes += bytes;
        self.upload_bytes >= UPLOAD_FLUSH_BYTES
    }

    pub(crate) fn encoder(&mut self, device: &wgpu::Device) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("weakseg.batch"),
            })
        })
    }

    /// Closes the batch: writes the parameter ring and returns the command
    /// buffer to submit, if anything was recorded.
    pub(crate) fn finish(&mut self, queue: &wgpu::Queue) -> Option<wgpu::CommandBuffer> {
        self.upload_bytes = 0;
        let enc = self.encoder.take()?;
        if self.slot > 0 {
            queue.write_buffer(
                &self.ring,
                0,
                &self.ring_data[..self.slot * self.stride as usize],
            );
        }
        self.slot = 0;
        self.names.clear();
        Some(enc.finish())
    }
}

/// Splits `groups` workgroups into a grid whose dimensions stay within `max`
/// (near-square, so at most O(√n) workgroups idle). Kernels recover their flat
/// index from `num_workgroups`.
pub fn fold_grid(groups: u64, max: u32) -> Option<[u32; 3]> {
    let max = max as u64;
    if groups <= max {
        return Some([groups as u32, 1, 1]);
    }
    let x = ((groups as f64).sqrt().ceil() as u64).clamp(1, max);
    let y = groups.div_ceil(x);
    if y <= max {
        return Some([x as u32, y as u32, 1]);
    }
    let z = y.div_ceil(max);
    if z > max {
        return None;
    }
    Some([x as u32, max as u32, z as u32])
}

impl Gpu {
    /// Records one kernel launch of `invocations` threads (workgroups of 64).
    /// Validates the bindings against the adapter's limits and WebGPU's
    /// aliasing rule before anything is recorded.
    pub fn launch(
        &self,
        op: &'static str,
        k: Kernel,
        params: &Params,
        binds: &[Bind<'_>],
        invocations: u64,
    ) -> Result<()> {
        if invocations == 0 {
            return Ok(());
        }
        if k.shader.needs_f16() && !self.has_f16() {
            return Err(Error::MissingFeature {
                op,
                feature: "shader-f16",
                hint: "run the forward pass in f32 on this adapter",
            });
        }
        if k.shader.needs_subgroup8() && self.fixed_subgroup_size() != Some(8) {
            return Err(Error::MissingFeature {
                op,
                feature: "subgroups of 8 lanes",
                hint: "use the kernel without subgroups on this adapter",
            });
        }
        self.check_binds(op, binds)?;
        let groups = invocations.div_ceil(64);
        let grid = fold_grid(groups, self.inner.max_wg_dim.get()).ok_or_else(|| Error::Limit {
            op,
            msg: format!("{invocations} invocations exceed the adapter's dispatch grid"),
        })?;
        let (pipeline, layout) = self.inner.pipelines.borrow_mut().get(&self.inner.device, k);
        let full = {
            let mut b = self.inner.batch.borrow_mut();
            let off = b.slot * b.stride as usize;
            b.ring_data[off..off + PARAM_BYTES as usize]
                .copy_from_slice(bytemuck::cast_slice(&params.0));
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &b.ring,
                    offset: off as u64,
                    size: NonZeroU64::new(PARAM_BYTES),
                }),
            }];
            for bd in binds {
                entries.push(wgpu::BindGroupEntry {
                    binding: bd.binding,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: bd.buffer.raw(),
                        offset: bd.offset,
                        size: NonZeroU64::new(bd.size.max(4)),
                    }),
                });
            }
            let bg = self
                .inner
                .device
                .create_bind_group(&wgpu::BindGroupDescriptor {
                    label: None,
                    layout: &layout,
                    entries: &entries,
                });
            let slot = b.slot as u32;
            let mut prof = self.inner.profiler.borrow_mut();
            let ts = prof.as_mut().map(|p| p.writes(slot, k.entry));
            let enc = b.encoder(&self.inner.device);
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(k.entry),
                    timestamp_writes: ts,
                });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
            }
            b.names.push(k.entry);
            b.slot += 1;
            b.dispatches += 1;
            b.slot >= b.max
        };
        if full {
            self.flush();
        }
        Ok(())
    }

    fn check_binds(&self, op: &'static str, binds: &[Bind<'_>]) -> Result<()> {
        let l = &self.inner.limits;
        let max_bindings = MAX_STORAGE_BINDINGS
            .min(l.max_storage_buffers_per_shader_stage.saturating_sub(1) as usize);
        if binds.len() > max_bindings {
            return Err(Error::Limit {
                op,
                msg: format!(
                    "{} storage bindings, the limit is {max_bindings}",
                    binds.len()
                ),
            });
        }
        let align = l.min_storage_buffer_offset_alignment as u64;
        for (i, b) in binds.iter().enumerate() {
            if b.buffer.device_id() != self.inner.id {
                return Err(Error::DeviceMismatch { op });
            }
            if b.size as u128 > l.max_storage_buffer_binding_size as u128 {
                return Err(Error::Limit {
                    op,
                    msg: format!(
                        "a binding of {} bytes exceeds max_storage_buffer_binding_size ({})",
                        b.size, l.max_storage_buffer_binding_size
                    ),
                });
            }
            if b.offset % align != 0 {
                return Err(Error::Limit {
                    op,
                    msg: format!("binding offset {} is not a multiple of {align}", b.offset),
                });
            }
            if b.offset + b.size.max(4) > b.buffer.capacity() {
                return Err(Error::invalid(
                    op,
                    format!(
                        "binding range {}+{} exceeds its buffer ({})",
                        b.offset,
                        b.size,
                        b.buffer.capacity()
                    ),
                ));
            }
            for o in &binds[i + 1..] {
                if (b.write || o.write) && std::ptr::eq(b.buffer.raw(), o.buffer.raw()) {
                    return Err(Error::invalid(
                        op,
                        "a written binding aliases another binding of the same buffer",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Records a buffer-to-buffer copy in the current batch.
    pub fn copy(
        &self,
        src: &GpuBuffer,
        src_offset: u64,
        dst: &GpuBuffer,
        dst_offset: u64,
        bytes: u64,
    ) -> Result<()> {
        if src.device_id() != self.inner.id || dst.device_id() != self.inner.id {
            return Err(Error::DeviceMismatch { op: "copy" });
        }
        if bytes == 0 {
            return Ok(());
        }
        let mut b = self.inner.batch.borrow_mut();
        b.encoder(&self.inner.device).copy_buffer_to_buffer(
            src.raw(),
            src_offset,
            dst.raw(),
            dst_offset,
            bytes,
        );
        Ok(())
    }
}
