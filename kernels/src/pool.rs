//! The buffer pool: storage buffers bucketed into size classes, so that a
//! training step that repeats its shapes allocates nothing after its first
//! iteration. A released buffer waits in a pending list until the commands
//! that may use it have been submitted, then becomes reusable.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Usage of every pooled storage buffer.
pub const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Counters a test or benchmark can read to check the pool's promises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// GPU buffers created since the device opened (pool misses).
    pub buffers_allocated: u64,
    /// Bytes held by live tensors (by size class).
    pub bytes_live: u64,
    /// The largest `bytes_live` seen.
    pub peak_bytes_live: u64,
    /// Bytes of every buffer the pool has created and still owns or lent.
    pub bytes_reserved: u64,
}

/// Rounds a request up to its size class: multiples of 256 bytes below 4 KiB,
/// then four classes per power of two (at most 25% slack).
pub fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(4);
    if b <= 4096 {
        return b.div_ceil(256) * 256;
    }
    let step = (1u64 << (63 - b.leading_zeros())) / 4;
    b.div_ceil(step) * step
}

pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    pending: Vec<(u64, wgpu::Buffer)>,
    pub(crate) stats: PoolStats,
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        BufferPool {
            free: HashMap::new(),
            pending: Vec::new(),
            stats: PoolStats::default(),
        }
    }

    pub(crate) fn take(&mut self, device: &wgpu::Device, class: u64) -> wgpu::Buffer {
        self.stats.bytes_live += class;
        self.stats.peak_bytes_live = self.stats.peak_bytes_live.max(self.stats.bytes_live);
        if let Some(b) = self.free.get_mut(&class).and_then(Vec::pop) {
            return b;
        }
        self.stats.buffers_allocated += 1;
        self.stats.bytes_reserved += class;
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("weakseg.pool"),
            size: class,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        })
    }

    fn release(&mut self, class: u64, buffer: wgpu::Buffer) {
        self.stats.bytes_live -= class;
        self.pending.push((class, buffer));
    }

    /// Called after a submit: everything released before it is now reusable.
    pub(crate) fn on_submit(&mut self) {
        for (class, b) in self.pending.drain(..) {
            self.free.entry(class).or_default().push(b);
        }
    }

    /// Drops every idle buffer (for memory pressure or tests).
    pub(crate) fn trim(&mut self) {
        for (class, list) in self.free.drain() {
            self.stats.bytes_reserved -= class * list.len() as u64;
        }
    }
}

/// A storage buffer lent by the pool; it returns there when dropped.
pub struct GpuBuffer {
    buffer: Option<wgpu::Buffer>,
    class: u64,
    device_id: u64,
    pool: Rc<RefCell<BufferPool>>,
}

impl GpuBuffer {
    pub(crate) fn new(
        buffer: wgpu::Buffer,
        class: u64,
        device_id: u64,
        pool: Rc<RefCell<BufferPool>>,
    ) -> Self {
        GpuBuffer {
            buffer: Some(buffer),
            class,
            device_id,
            pool,
        }
    }

    /// The underlying wgpu buffer.
    pub fn raw(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }

    /// Capacity in bytes (the size class).
    pub fn capacity(&self) -> u64 {
        self.class
    }

    /// Identifier of the device that owns the buffer.
    pub fn device_id(&self) -> u64 {
        self.device_id
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.pool.borrow_mut().release(self.class, b);
        }
    }
}

impl std::fmt::Debug for GpuBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBuffer({} bytes)", self.class)
    }
}
