//! Losses of weak supervision beyond the classification and segmentation
//! losses every tensor has (`Tensor::bce_with_logits`,
//! `Tensor::cross_entropy`): regularisers that tie a soft segmentation to
//! the image it segments.

pub mod crf_loss;

pub use crf_loss::DenseCrfLoss;
