//! Opening a device: adapter choice (honouring `WGPU_BACKEND` and
//! `WGPU_ADAPTER_NAME`, preferring high performance, falling back to software
//! adapters), the maximum limits and the optional features the adapter offers.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::pipeline::PipelineCache;
use crate::pool::{BufferPool, GpuBuffer, PoolStats, size_class};
use crate::profile::Profiler;

/// What kind of processor runs the kernels; kernels pick tile shapes by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterClass {
    /// A GPU (discrete, integrated or virtual).
    Gpu,
    /// A CPU-based adapter (lavapipe, llvmpipe, WARP, SwiftShader).
    Cpu,
}

/// A description of the open device, as `weakseg info` prints it.
#[derive(Clone, Debug)]
pub struct DeviceReport {
    /// Adapter name.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl, BrowserWebGpu).
    pub backend: String,
    /// Driver name and version.
    pub driver: String,
    /// Device type (DiscreteGpu, IntegratedGpu, Cpu, ...).
    pub device_type: String,
    /// The limits that matter to the engine, by name.
    pub limits: Vec<(&'static str, u64)>,
    /// Optional features enabled on the device.
    pub features: Vec<&'static str>,
}

/// Subgroup operations, requested natively only: in a browser the feature
/// would oblige every shader that uses it to say `enable subgroups;`, which
/// naga does not parse yet, and no browser adapter reports the CPU type that
/// the subgroup kernels are chosen for.
fn native_only() -> wgpu::Features {
    if cfg!(target_arch = "wasm32") {
        wgpu::Features::empty()
    } else {
        wgpu::Features::SUBGROUP
    }
}

static NEXT_DEVICE_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) struct Inner {
    pub(crate) id: u64,
    _instance: wgpu::Instance,
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) limits: wgpu::Limits,
    pub(crate) features: wgpu::Features,
    pub(crate) pool: Rc<RefCell<BufferPool>>,
    pub(crate) staging: RefCell<HashMap<u64, Vec<wgpu::Buffer>>>,
    pub(crate) pipelines: RefCell<PipelineCache>,
    pub(crate) batch: RefCell<Batch>,
    pub(crate) profiler: RefCell<Option<Profiler>>,
    pub(crate) max_wg_dim: Cell<u32>,
    pub(crate) lost: Arc<Mutex<Option<String>>>,
}

/// A handle to an open GPU device with its pool, pipeline cache and command
/// batch. Cloning is cheap and shares everything.
#[derive(Clone)]
pub struct Gpu {
    pub(crate) inner: Rc<Inner>,
}

const NO_ADAPTER_HELP: &str = "install a GPU driver with Vulkan, Metal, DX12 or OpenGL support; \
on Linux without a GPU install Mesa's software Vulkan driver (`apt-get install mesa-vulkan-drivers`, lavapipe) \
or run with WGPU_BACKEND=gl to use llvmpipe";

impl Gpu {
    /// Opens the best available adapter. Honours `WGPU_BACKEND` (vulkan, metal,
    /// dx12, gl, webgpu) and `WGPU_ADAPTER_NAME` (a substring of the adapter
    /// name); otherwise prefers a high-performance adapter and falls back to
    /// any adapter, software ones included.
    pub async fn new() -> Result<Gpu> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = choose_adapter(&instance).await?;
        Self::from_adapter(instance, adapter).await
    }

    /// Opens a device on `adapter` of `instance`, requesting its maximum
    /// limits and the optional features the engine can use (shader-f16,
    /// timestamp queries). The `Gpu` keeps the instance alive: browsers
    /// lose every device of an instance that is dropped.
    pub async fn from_adapter(instance: wgpu::Instance, adapter: wgpu::Adapter) -> Result<Gpu> {
        let info = adapter.get_info();
        let wanted = wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY | native_only();
        let features = adapter.features() & wanted;
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("weakseg"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| {
                Error::NoAdapter(format!("could not open a device on {}: {e}", info.name))
            })?;
        let lost: Arc<Mutex<Option<String>>> = Arc::default();
        let slot = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(format!("{reason:?}: {message}"));
            }
        });
        let batch = Batch::new(&device, &limits);
        let profiler =
            if profiling_requested() && features.contains(wgpu::Features::TIMESTAMP_QUERY) {
                Some(Profiler::new(&device, &queue, batch.capacity()))
            } else {
                None
            };
        let max_dim = limits.max_compute_workgroups_per_dimension;
        Ok(Gpu {
            inner: Rc::new(Inner {
                id: NEXT_DEVICE_ID.fetch_add(1, Ordering::Relaxed),
                _instance: instance,
                device,
                queue,
                info,
                limits,
                features,
                pool: Rc::new(RefCell::new(BufferPool::new())),
                staging: RefCell::new(HashMap::new()),
                pipelines: RefCell::new(PipelineCache::default()),
                batch: RefCell::new(batch),
                profiler: RefCell::new(profiler),
                max_wg_dim: Cell::new(max_dim),
                lost,
            }),
        })
    }

    /// Opens the default adapter, blocking until it is ready (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking() -> Result<Gpu> {
        pollster::block_on(Self::new())
    }

    /// Why the device was lost, if it was (a driver reset, a browser's GPU
    /// watchdog); errors that follow a loss carry this reason.
    pub fn lost_reason(&self) -> Option<String> {
        self.inner.lost.lock().ok().and_then(|s| s.clone())
    }

    /// The wgpu device.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// Adapter information (name, backend, driver, device type).
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// The limits the device was opened with (the adapter's maxima).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// Optional features enabled on the device.
    pub fn features(&self) -> wgpu::Features {
        self.inner.features
    }

    /// Whether the device has shader-f16, which the f16 forward pass needs.
    pub fn has_f16(&self) -> bool {
        self.inner.features.contains(wgpu::Features::SHADER_F16)
    }

    /// The subgroup width, where the device has subgroup operations and the
    /// adapter runs every subgroup at one fixed width (lavapipe: 8). Kernels
    /// that pass values between lanes by index are written for a known width.
    pub fn fixed_subgroup_size(&self) -> Option<u32> {
        let i = &self.inner.info;
        (self.inner.features.contains(wgpu::Features::SUBGROUP)
            && i.subgroup_min_size == i.subgroup_max_size)
            .then_some(i.subgroup_min_size)
    }

    /// Whether kernels run on a CPU adapter (tile shapes differ).
    pub fn class(&self) -> AdapterClass {
        if self.inner.info.device_type == wgpu::DeviceType::Cpu {
            AdapterClass::Cpu
        } else {
            AdapterClass::Gpu
        }
    }

    /// A unique identifier of this device within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Everything `weakseg info` prints.
    pub fn report(&self) -> DeviceReport {
        let i = &self.inner.info;
        let l = &self.inner.limits;
        let mut features = Vec::new();
        if self.inner.features.contains(wgpu::Features::SHADER_F16) {
            features.push("shader-f16");
        }
        if self
            .inner
            .features
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            features.push("timestamp-query");
        }
        if self.inner.features.contains(wgpu::Features::SUBGROUP) {
            features.push("subgroup");
        }
        DeviceReport {
            name: i.name.clone(),
            backend: format!("{:?}", i.backend),
            driver: format!("{} {}", i.driver, i.driver_info).trim().to_string(),
            device_type: format!("{:?}", i.device_type),
            limits: vec![
                ("max_buffer_size", l.max_buffer_size),
                (
                    "max_storage_buffer_binding_size",
                    l.max_storage_buffer_binding_size,
                ),
                (
                    "max_storage_buffers_per_shader_stage",
                    l.max_storage_buffers_per_shader_stage as u64,
                ),
                (
                    "max_compute_workgroups_per_dimension",
                    l.max_compute_workgroups_per_dimension as u64,
                ),
                (
                    "max_compute_invocations_per_workgroup",
                    l.max_compute_invocations_per_workgroup as u64,
                ),
                (
                    "max_compute_workgroup_storage_size",
                    l.max_compute_workgroup_storage_size as u64,
                ),
                (
                    "min_storage_buffer_offset_alignment",
                    l.min_storage_buffer_offset_alignment as u64,
                ),
                (
                    "min_uniform_buffer_offset_alignment",
                    l.min_uniform_buffer_offset_alignment as u64,
                ),
            ],
            features,
        }
    }

    /// Takes a buffer of at least `bytes` from the pool (contents undefined).
    pub fn alloc(&self, bytes: u64) -> Result<GpuBuffer> {
        let max = self.inner.limits.max_buffer_size;
        if bytes > max {
            return Err(Error::Limit {
                op: "alloc",
                msg: format!("{bytes} bytes requested, the adapter's max_buffer_size is {max}"),
            });
        }
        let class = size_class(bytes).min(max);
        let raw = self.inner.pool.borrow_mut().take(&self.inner.device, class);
        Ok(GpuBuffer::new(
            raw,
            class,
            self.inner.id,
            self.inner.pool.clone(),
        ))
    }

    /// Copies host data into a new pooled buffer. Large uploads trigger a
    /// submit so staging memory does not pile up.
    pub fn upload(&self, data: &[u8]) -> Result<GpuBuffer> {
        let buf = self.alloc(data.len() as u64)?;
        if !data.is_empty() {
            self.inner.queue.write_buffer(buf.raw(), 0, data);
            if self.inner.batch.borrow_mut().note_upload(data.len() as u64) {
                self.flush();
            }
        }
        Ok(buf)
    }

    /// Overwrites `data.len()` bytes of `buf` at `offset` with host data,
    /// after every recorded dispatch (those are submitted first, so they see
    /// the old contents). `offset` and the length must be multiples of 4.
    pub fn write_at(&self, buf: &GpuBuffer, offset: u64, data: &[u8]) -> Result<()> {
        let end = offset + data.len() as u64;
        if !offset.is_multiple_of(4) || !data.len().is_multiple_of(4) || end > buf.capacity() {
            return Err(Error::invalid(
                "write_at",
                format!(
                    "{} bytes at offset {offset} do not fit a {}-byte buffer in 4-byte words",
                    data.len(),
                    buf.capacity()
                ),
            ));
        }
        if buf.device_id() != self.inner.id {
            return Err(Error::DeviceMismatch { op: "write_at" });
        }
        self.flush();
        if !data.is_empty() {
            self.inner.queue.write_buffer(buf.raw(), offset, data);
        }
        Ok(())
    }

    /// Pool counters: buffers created, bytes live, peak bytes.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.borrow().stats
    }

    /// Restarts peak tracking from the bytes live now (per-benchmark peaks).
    pub fn reset_peak(&self) {
        let mut pool = self.inner.pool.borrow_mut();
        pool.stats.peak_bytes_live = pool.stats.bytes_live;
    }

    /// Releases idle pooled buffers back to the driver.
    pub fn trim_pool(&self) {
        self.flush();
        self.inner.pool.borrow_mut().trim();
    }

    /// Number of queue submits so far.
    pub fn submits(&self) -> u64 {
        self.inner.batch.borrow().submits
    }

    /// Number of kernel dispatches recorded so far.
    pub fn dispatches(&self) -> u64 {
        self.inner.batch.borrow().dispatches
    }

    /// Number of compute pipelines compiled so far.
    pub fn pipelines_created(&self) -> u64 {
        self.inner.pipelines.borrow().created
    }

    /// Lowers the per-dimension workgroup limit the engine folds against, so
    /// tests can exercise 2-D/3-D folding on small problems.
    pub fn set_fold_limit(&self, max_per_dim: u32) {
        let hw = self.inner.limits.max_compute_workgroups_per_dimension;
        self.inner.max_wg_dim.set(max_per_dim.clamp(1, hw));
    }

    /// Sets how many dispatches are recorded before a submit (at least 1,
    /// at most the uniform ring's capacity).
    pub fn set_batch_size(&self, dispatches: usize) {
        self.flush();
        self.inner.batch.borrow_mut().set_max(dispatches);
    }

    /// Submits every recorded dispatch now.
    pub fn flush(&self) {
        let cmd = self.inner.batch.borrow_mut().finish(&self.inner.queue);
        if let Some(cmd) = cmd {
            let mut prof = self.inner.profiler.borrow_mut();
            let mut cmds = vec![cmd];
            if let Some(p) = prof.as_mut() {
                cmds.push(p.resolve(&self.inner.device));
            }
            self.inner.queue.submit(cmds);
            self.inner.batch.borrow_mut().submits += 1;
            if let Some(p) = prof.as_mut() {
                p.collect(&self.inner.device);
            }
        }
        self.inner.pool.borrow_mut().on_submit();
    }

    /// The profile table (kernel, calls, total and mean GPU time), or a line
    /// saying why timings are unavailable.
    pub fn profile_report(&self) -> String {
        self.flush();
        match self.inner.profiler.borrow().as_ref() {
            Some(p) => p.table(),
            None if !self
                .inner
                .features
                .contains(wgpu::Features::TIMESTAMP_QUERY) =>
            {
                "GPU timings unavailable: the adapter has no timestamp queries".to_string()
            }
            None => "GPU timings off: set WEAKSEG_PROFILE=1".to_string(),
        }
    }

    /// Whether `WEAKSEG_PROFILE` asked for GPU timings when this process
    /// started (set, and neither empty nor `0`; never in a browser).
    pub fn profiling_requested() -> bool {
        profiling_requested()
    }

    /// Blocks until the GPU has finished all submitted work (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn sync(&self) {
        self.flush();
        let _ = self.inner.device.poll(wgpu::PollType::wait_indefinitely());
    }
}

fn profiling_requested() -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::env::var("WEAKSEG_PROFILE").is_ok_and(|v| v != "0" && !v.is_empty())
    }
    #[cfg(target_arch = "wasm32")]
    {
        false
    }
}

async fn choose_adapter(instance: &wgpu::Instance) -> Result<wgpu::Adapter> {
    #[cfg(not(target_arch = "wasm32"))]
    if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
        let adapters = instance.enumerate_adapters(wgpu::Backends::all()).await;
        let want = name.to_lowercase();
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&want))
            .ok_or_else(|| {
                Error::NoAdapter(format!(
                    "WGPU_ADAPTER_NAME={name} matches none of the adapters found: [{}]",
                    names.join(", ")
                ))
            });
    }
    for force_fallback_adapter in [false, true] {
        let opts = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter,
            compatible_surface: None,
            apply_limit_buckets: false,
        };
        if let Ok(a) = instance.request_adapter(&opts).await {
            return Ok(a);
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    if let Some(a) = instance
        .enumerate_adapters(wgpu::Backends::all())
        .await
        .into_iter()
        .next()
    {
        return Ok(a);
    }
    Err(Error::NoAdapter(NO_ADAPTER_HELP.to_string()))
}
