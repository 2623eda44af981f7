//! GPU kernel timings from timestamp queries (`WEAKSEG_PROFILE=1`): each
//! dispatch writes a begin and an end timestamp; after each submit the
//! timings are read back and summed per kernel entry point.

use std::collections::HashMap;

pub(crate) struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    period_ns: f64,
    used: u32,
    names: Vec<&'static str>,
    totals: HashMap<&'static str, (u64, f64)>,
}

impl Profiler {
    pub(crate) fn new(device: &wgpu::Device, queue: &wgpu::Queue, slots: usize) -> Self {
        let count = (slots * 2) as u32;
        let bytes = count as u64 * 8;
        Profiler {
            set: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("weakseg.profile"),
                ty: wgpu::QueryType::Timestamp,
                count,
            }),
            resolve: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("weakseg.profile.resolve"),
                size: bytes,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            readback: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("weakseg.profile.read"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            period_ns: queue.get_timestamp_period() as f64,
            used: 0,
            names: Vec::new(),
            totals: HashMap::new(),
        }
    }

    pub(crate) fn writes(
        &mut self,
        slot: u32,
        name: &'static str,
    ) -> wgpu::ComputePassTimestampWrites<'_> {
        self.used = slot + 1;
        self.names.push(name);
        wgpu::ComputePassTimestampWrites {
            query_set: &self.set,
            beginning_of_pass_write_index: Some(slot * 2),
            end_of_pass_write_index: Some(slot * 2 + 1),
        }
    }

    pub(crate) fn resolve(&mut self, device: &wgpu::Device) -> wgpu::CommandBuffer {
        let mut enc = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("weakseg.profile"),
        });
        if self.used > 0 {
            enc.resolve_query_set(&self.set, 0..self.used * 2, &self.resolve, 0);
            enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, self.used as u64 * 16);
        }
        enc.finish()
    }

    /// Waits for the submitted batch and adds its timings (native only; on the
    /// web the timings of a batch are dropped).
    pub(crate) fn collect(&mut self, device: &wgpu::Device) {
        let used = self.used as u64;
        let names = std::mem::take(&mut self.names);
        self.used = 0;
        if used == 0 || cfg!(target_arch = "wasm32") {
            return;
        }
        let slice = self.readback.slice(..used * 16);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        if device.poll(wgpu::PollType::wait_indefinitely()).is_err() {
            return;
        }
        if let Ok(view) = slice.get_mapped_range() {
            let ts: &[u64] = bytemuck::cast_slice(&view);
            for (i, name) in names.iter().enumerate() {
                let dt = ts[2 * i + 1].saturating_sub(ts[2 * i]) as f64 * self.period_ns;
                let e = self.totals.entry(name).or_insert((0, 0.0));
                e.0 += 1;
                e.1 += dt;
            }
        }
        self.readback.unmap();
    }

    pub(crate) fn table(&self) -> String {
        let mut rows: Vec<_> = self.totals.iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        let mut s = format!(
            "{:<28} {:>8} {:>12} {:>12}\n",
            "kernel", "calls", "total ms", "mean us"
        );
        for (name, (calls, ns)) in rows.iter().take(20) {
            s += &format!(
                "{:<28} {:>8} {:>12.3} {:>12.1}\n",
                name,
                calls,
                ns / 1e6,
                ns / 1e3 / *calls as f64
            );
        }
        s
    }
}
