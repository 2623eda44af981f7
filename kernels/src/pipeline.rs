//! The pipeline cache: one compute pipeline per (kernel family, entry point,
//! operation code), created on first use. Specialisation goes through the
//! WGSL override constant `OP`; no shader text is generated per shape.

use std::collections::HashMap;

use crate::shaders::Shader;

/// Which pipeline a launch needs: the cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    /// The kernel family (WGSL file).
    pub shader: Shader,
    /// The entry point within it.
    pub entry: &'static str,
    /// Value of the `OP` override constant (ignored by families without one).
    pub op: u32,
}

impl Kernel {
    /// A kernel with no operation code.
    pub const fn new(shader: Shader, entry: &'static str) -> Self {
        Kernel {
            shader,
            entry,
            op: 0,
        }
    }

    /// A kernel specialised on an operation code.
    pub const fn with_op(shader: Shader, entry: &'static str, op: u32) -> Self {
        Kernel { shader, entry, op }
    }
}

#[derive(Default)]
pub(crate) struct PipelineCache {
    modules: HashMap<Shader, wgpu::ShaderModule>,
    pipelines: HashMap<Kernel, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
    pub(crate) created: u64,
}

impl PipelineCache {
    /// The pipeline for `k` and its bind-group layout, compiled on first use.
    pub(crate) fn get(
        &mut self,
        device: &wgpu::Device,
        k: Kernel,
    ) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        if let Some(p) = self.pipelines.get(&k) {
            return p.clone();
        }
        let module = self
            .modules
            .entry(k.shader)
            .or_insert_with(|| {
                device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(k.shader.file()),
                    source: wgpu::ShaderSource::Wgsl(k.shader.source().into()),
                })
            })
            .clone();
        let constants = [("OP", k.op as f64)];
        let p = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: None,
            module: &module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: if k.shader.has_op() { &constants } else { &[] },
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        self.created += 1;
        let entry = (p.clone(), p.get_bind_group_layout(0));
        self.pipelines.insert(k, entry.clone());
        entry
    }
}
