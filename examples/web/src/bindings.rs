//! The JavaScript face of [`crate::session`]: a `Trainer` class whose
//! methods return promises. Errors become JavaScript exceptions carrying
//! the engine's message.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;
use weakseg::Gpu;

use crate::session::{self, CamView, Session, SessionConfig};

fn js_error(e: weakseg::Error) -> JsValue {
    js_sys::Error::new(&e.to_string()).into()
}

/// The demo's trainer as JavaScript sees it.
#[wasm_bindgen]
pub struct Trainer {
    gpu: Gpu,
    session: Rc<RefCell<Session>>,
}

/// A sample's CAM overlay for a canvas, with its statistics.
#[wasm_bindgen(getter_with_clone)]
pub struct CamPicture {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// RGBA pixels.
    pub rgba: Vec<u8>,
    /// Class shown.
    pub class: String,
    /// Largest raw CAM value of that class.
    pub max: f32,
    /// Mean normalised CAM value.
    pub mean: f32,
    /// Whether every value is finite.
    pub finite: bool,
}

impl From<CamView> for CamPicture {
    fn from(v: CamView) -> Self {
        CamPicture {
            width: v.width as u32,
            height: v.height as u32,
            rgba: v.rgba,
            class: v.class,
            max: v.max,
            mean: v.mean,
            finite: v.finite,
        }
    }
}

#[wasm_bindgen]
impl Trainer {
    /// Opens the browser's WebGPU adapter and builds a session; resolves to
    /// a `Trainer`, or rejects with the reason (no adapter, a missing limit,
    /// bad settings).
    pub fn open(
        images: usize,
        size: usize,
        classes: usize,
        batch_size: usize,
        lr: f32,
        seed: u32,
    ) -> Promise {
        future_to_promise(async move {
            let gpu = Gpu::new().await.map_err(js_error)?;
            let cfg = SessionConfig {
                images,
                size,
                classes,
                batch_size,
                lr,
                seed: seed.into(),
            };
            let session = Session::new(&gpu, cfg).map_err(js_error)?;
            Ok(Trainer {
                gpu,
                session: Rc::new(RefCell::new(session)),
            }
            .into())
        })
    }

    /// The adapter as the engine sees it: its name where the platform gives
    /// one (browsers often do not; the page adds the browser's own adapter
    /// info), backend and device type.
    pub fn adapter(&self) -> String {
        let i = self.gpu.adapter_info();
        let kind = format!("{:?}, {:?}", i.backend, i.device_type);
        if i.name.is_empty() {
            kind
        } else {
            format!("{}: {kind}", i.name)
        }
    }

    /// Steps in one pass over the images.
    #[wasm_bindgen(js_name = stepsPerEpoch)]
    pub fn steps_per_epoch(&self) -> usize {
        self.session.borrow().steps_per_epoch()
    }

    /// One training step; resolves to its loss. The session stays borrowed
    /// across the loss readback on purpose: a second call while one runs is
    /// refused rather than interleaved.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn step(&self) -> Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let mut s = session
                .try_borrow_mut()
                .map_err(|_| JsValue::from_str("a step is already running"))?;
            let loss = s.step().await.map_err(js_error)?;
            Ok(JsValue::from_f64(loss.into()))
        })
    }

    /// Resolves to image `i`'s CAM overlay (refused while a step runs).
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn cam(&self, i: usize) -> Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let s = session
                .try_borrow()
                .map_err(|_| JsValue::from_str("a step is running"))?;
            let view = s.cam(i).await.map_err(js_error)?;
            Ok(CamPicture::from(view).into())
        })
    }

    /// Resolves to the largest difference between a GPU matmul and the CPU
    /// reference kernel.
    #[wasm_bindgen(js_name = kernelCheck)]
    pub fn kernel_check(&self) -> Promise {
        let gpu = self.gpu.clone();
        future_to_promise(async move {
            let err = session::kernel_check(&gpu).await.map_err(js_error)?;
            Ok(JsValue::from_f64(err))
        })
    }
}
