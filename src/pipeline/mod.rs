//! The image-label pipeline as resumable stages over files (psa / IRN):
//! train the CAM classifier ([`classifier`]), infer multi-scale CAMs and
//! their label maps ([`cams`]), refine them with the dense CRF into
//! affinity labels ([`aff_labels`]), train AffinityNet on them
//! ([`affinity`]), propagate the CAMs by the random walk ([`walk`]), train
//! and apply the segmenter ([`segmenter`]); [`run`] chains them all and
//! [`report`] draws the run; [`compare`] runs it once per CAM-expansion
//! method into one table. Labels cheaper than tags enter through
//! [`weak_masks`] (points, scribbles, boxes), and [`supervision`] trains
//! a segmenter from each kind of label into one table; [`interactive`]
//! trains and scores a click-driven object segmenter. Each stage reads and
//! writes files a user can open, writes them atomically, and is skipped on a re-run when its
//! outputs exist and its inputs and settings are unchanged ([`stage`]).

pub mod aff_labels;
pub mod affinity;
pub mod cams;
pub mod classifier;
pub mod compare;
pub mod fingerprint;
pub mod interactive;
pub mod report;
pub mod results;
pub mod run;
pub mod scoring;
pub mod segmenter;
pub mod spml;
pub mod stage;
pub mod supervision;
pub mod synth_stats;
pub mod validate;
pub mod walk;
pub mod weak_masks;
