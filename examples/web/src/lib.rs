//! weakseg in the browser. [`session`] holds the demo's work for every
//! platform; on wasm32 this crate also exports it to JavaScript through
//! wasm-bindgen (`index.html` and `main.js` are the page). The engine,
//! kernels and training code are the native ones: only the entry points
//! here are browser-specific, and every GPU readback is awaited.

pub mod session;

#[cfg(target_arch = "wasm32")]
mod bindings;
