//! The browser demo's session, run natively on the default adapter: the
//! same code the page runs, so a failure here is found without a browser.

use weakseg::Gpu;
use weakseg_web::session::{Session, SessionConfig, kernel_check};

#[test]
fn session_trains_and_draws_cams() {
    let gpu = Gpu::new_blocking().expect("an adapter");
    // Tolerance: f32 accumulation over K = 13 of values below 4 in size.
    let err = pollster::block_on(kernel_check(&gpu)).expect("kernel check");
    assert!(err < 1e-4, "matmul differs from its CPU reference by {err}");

    let cfg = SessionConfig {
        images: 16,
        size: 32,
        ..SessionConfig::default()
    };
    let mut s = Session::new(&gpu, cfg).expect("session");
    assert_eq!(s.steps_per_epoch(), 2);
    let losses: Vec<f32> = (0..12)
        .map(|_| pollster::block_on(s.step()).expect("step"))
        .collect();
    assert_eq!(s.steps(), 12);
    let first = (losses[0] + losses[1]) / 2.0;
    let last = (losses[10] + losses[11]) / 2.0;
    assert!(last < first, "loss did not fall: {losses:?}");

    let cam = pollster::block_on(s.cam(0)).expect("cam");
    assert_eq!(
        (cam.width, cam.height, cam.rgba.len()),
        (32, 32, 32 * 32 * 4)
    );
    assert!(cam.finite && cam.max > 0.0 && cam.mean > 0.0, "{cam:?}");
    assert!(pollster::block_on(s.cam(99)).is_err());
}

#[test]
fn session_refuses_bad_settings() {
    let gpu = Gpu::new_blocking().expect("an adapter");
    let too_big = SessionConfig {
        batch_size: 64,
        ..SessionConfig::default()
    };
    let e = Session::new(&gpu, too_big)
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("batch size 64"), "{e}");
    let tiny = SessionConfig {
        size: 8,
        ..SessionConfig::default()
    };
    assert!(Session::new(&gpu, tiny).is_err());
}
