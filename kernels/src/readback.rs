//! Reading buffers back to the host. The read is a future (WebGPU cannot
//! block); native code also gets a blocking wrapper.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::device::Gpu;
use crate::error::{Error, Result};
use crate::pool::{GpuBuffer, size_class};

/// The map callback's outcome, and the waker of the task awaiting it: in a
/// browser the callback runs from the event loop, so the task must sleep
/// until it fires rather than spin (a spinning task starves that loop).
#[derive(Default)]
struct MapSlot {
    result: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

type MapState = Arc<Mutex<MapSlot>>;

/// A pending readback; await it (or call [`PendingRead::wait`] on native).
pub struct PendingRead {
    gpu: Gpu,
    staging: Option<wgpu::Buffer>,
    class: u64,
    bytes: u64,
    state: MapState,
}

impl Gpu {
    /// Starts copying `bytes` bytes at `offset` of `buf` to the host: records
    /// the copy, submits the batch and maps a pooled staging buffer.
    pub fn read(&self, buf: &GpuBuffer, offset: u64, bytes: u64) -> Result<PendingRead> {
        if buf.device_id() != self.inner.id {
            return Err(Error::DeviceMismatch { op: "read" });
        }
        if offset + bytes > buf.capacity() {
            return Err(Error::invalid(
                "read",
                format!(
                    "range {offset}+{bytes} exceeds the buffer ({})",
                    buf.capacity()
                ),
            ));
        }
        let class = size_class(bytes);
        let staging = self
            .inner
            .staging
            .borrow_mut()
            .get_mut(&class)
            .and_then(Vec::pop);
        let staging = staging.unwrap_or_else(|| {
            self.inner.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("weakseg.staging"),
                size: class,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let state: MapState = Arc::default();
        if bytes > 0 {
            {
                let mut b = self.inner.batch.borrow_mut();
                b.encoder(&self.inner.device).copy_buffer_to_buffer(
                    buf.raw(),
                    offset,
                    &staging,
                    0,
                    bytes,
                );
            }
            self.flush();
            let st = state.clone();
            staging
                .slice(..bytes)
                .map_async(wgpu::MapMode::Read, move |r| {
                    if let Ok(mut s) = st.lock() {
                        s.result = Some(r);
                        if let Some(w) = s.waker.take() {
                            w.wake();
                        }
                    }
                });
        } else {
            state
                .lock()
                .map_err(|_| Error::Readback("poisoned".into()))?
                .result = Some(Ok(()));
        }
        Ok(PendingRead {
            gpu: self.clone(),
            staging: Some(staging),
            class,
            bytes,
            state,
        })
    }
}

impl PendingRead {
    fn take(&mut self) -> Option<Result<Vec<u8>>> {
        let r = self.state.lock().ok()?.result.take()?;
        let staging = self.staging.take()?;
        let out = match r {
            Err(e) => Err(Error::Readback(match self.gpu.lost_reason() {
                Some(why) => format!("{e} (the device was lost: {why})"),
                None => e.to_string(),
            })),
            Ok(()) if self.bytes == 0 => Ok(Vec::new()),
            Ok(()) => {
                let data = staging
                    .slice(..self.bytes)
                    .get_mapped_range()
                    .map(|v| v.to_vec())
                    .map_err(|e| Error::Readback(e.to_string()));
                staging.unmap();
                data
            }
        };
        self.gpu
            .inner
            .staging
            .borrow_mut()
            .entry(self.class)
            .or_default()
            .push(staging);
        Some(out)
    }

    /// Blocks until the data is on the host (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(mut self) -> Result<Vec<u8>> {
        loop {
            if let Some(r) = self.take() {
                return r;
            }
            self.gpu
                .inner
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Readback(e.to_string()))?;
        }
    }
}

impl Future for PendingRead {
    type Output = Result<Vec<u8>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(r) = self.take() {
            return Poll::Ready(r);
        }
        if let Ok(mut s) = self.state.lock() {
            s.waker = Some(cx.waker().clone());
        }
        // Natively the callback only runs inside `poll`, so drive the device
        // and ask to be polled again; in a browser the event loop runs the
        // callback, which wakes this task.
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = self.gpu.inner.device.poll(wgpu::PollType::Poll);
            if let Some(r) = self.take() {
                return Poll::Ready(r);
            }
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}
